#include "crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace hutong::journal {
namespace {

TEST(Crc32c, KnownValues) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);  // RFC 3720 B.4
  EXPECT_EQ(crc32c_portable(0, "123456789", 9), 0xE3069283u);
}

TEST(Crc32c, FastPathEqualsPortableAndExtends) {
  std::mt19937 rng(1);
  for (int len = 0; len < 300; ++len) {
    std::string data(len, '\0');
    for (char& c : data)
      c = static_cast<char>(rng());
    uint32_t whole = crc32c(data);
    ASSERT_EQ(whole, crc32c_portable(0, data.data(), data.size())) << len;
    size_t cut = len / 3;
    uint32_t part = crc32c_extend(0, data.data(), cut);
    ASSERT_EQ(crc32c_extend(part, data.data() + cut, data.size() - cut), whole) << len;
  }
}

TEST(Crc32c, MaskRoundTrips) {
  for (uint32_t v : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu})
    EXPECT_EQ(unmask_crc(mask_crc(v)), v);
  EXPECT_NE(mask_crc(0xE3069283u), 0xE3069283u);
}

}  // namespace
}  // namespace hutong::journal
