// Writing protobuf wire format by hand, where the feed assembles messages from
// bytes it already has (stored records, rendered envelopes) without parsing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hutong::feed {

inline void append_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// A length-delimited field (string, bytes or an embedded message).
inline void append_bytes_field(std::string& out, int number, std::string_view bytes) {
  append_varint(out, (static_cast<uint64_t>(number) << 3) | 2);
  append_varint(out, bytes.size());
  out.append(bytes);
}

}  // namespace hutong::feed
