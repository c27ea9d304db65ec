// Writing protobuf wire format by hand, where the feed assembles messages from
// bytes it already has (stored records, rendered envelopes) without parsing.
// Varints are the journal's (the same encoding).
#pragma once

#include <string>
#include <string_view>

#include "journal/format.h"

namespace hutong::feed {

using journal::get_varint;
using journal::put_varint;

// A length-delimited field (string, bytes or an embedded message).
inline void append_bytes_field(std::string& out, int number, std::string_view bytes) {
  put_varint(out, (static_cast<uint64_t>(number) << 3) | 2);
  put_varint(out, bytes.size());
  out.append(bytes);
}

}  // namespace hutong::feed
