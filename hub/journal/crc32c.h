// CRC-32C (Castagnoli), the checksum of every journal frame and segment header.
// Uses the CPU's crc32 instruction (SSE 4.2) when present and Boost.CRC's table
// implementation otherwise; both give the same values (crc32c_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hutong::journal {

// Extends `crc` (0 to start) with `data`.
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size);
inline uint32_t crc32c(std::string_view data) {
  return crc32c_extend(0, data.data(), data.size());
}

// The portable implementation, exposed for the test that pins the fast one to it.
uint32_t crc32c_portable(uint32_t crc, const void* data, size_t size);

// A stored CRC is masked (as LevelDB does), so that the CRC of data that itself
// contains CRCs does not degenerate.
inline uint32_t mask_crc(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
inline uint32_t unmask_crc(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

}  // namespace hutong::journal
