#include "crc32c.h"

#include <boost/crc.hpp>
#include <cstring>

namespace hutong::journal {
namespace {

__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(uint32_t crc, const void* data,
                                                        size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t c = ~crc;
  while (size >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = __builtin_ia32_crc32di(c, word);
    p += 8;
    size -= 8;
  }
  auto c32 = static_cast<uint32_t>(c);
  while (size > 0) {
    c32 = __builtin_ia32_crc32qi(c32, *p++);
    --size;
  }
  return ~c32;
}

bool have_sse42() {
  static const bool have = __builtin_cpu_supports("sse4.2");
  return have;
}

}  // namespace

uint32_t crc32c_portable(uint32_t crc, const void* data, size_t size) {
  // Reflected CRC-32C: polynomial 0x1EDC6F41, init and final XOR 0xFFFFFFFF.
  // The running remainder of a finished CRC is the CRC with the final XOR undone.
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> engine(crc ^ 0xFFFFFFFF);
  engine.process_bytes(data, size);
  return engine.checksum();
}

uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size) {
  if (have_sse42()) return crc32c_sse42(crc, data, size);
  return crc32c_portable(crc, data, size);
}

}  // namespace hutong::journal
