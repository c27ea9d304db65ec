#include "privacy.h"

#include <gtest/gtest.h>

namespace hutong::domain {
namespace {

const std::string kKey(20, '\x0b');  // RFC 4231 test case 1

TEST(KeyedHash, HmacSha256MatchesRfc4231) {
  auto hasher = KeyedHasher::create(HashAlgorithm::kHmacSha256, kKey);
  ASSERT_TRUE(hasher) << hasher.status().to_string();
  EXPECT_EQ((*hasher)->hex_digest("Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(KeyedHash, HmacSha256WithAKeyLongerThanABlockMatchesRfc4231) {
  auto hasher = KeyedHasher::create(HashAlgorithm::kHmacSha256, std::string(131, '\xaa'));
  ASSERT_TRUE(hasher) << hasher.status().to_string();
  EXPECT_EQ((*hasher)->hex_digest("Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  std::string out = "key:";
  (*hasher)->append_hex_digest("Test Using Larger Than Block-Size Key - Hash Key First", out);
  EXPECT_EQ(out, "key:60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // The precomputed states are not consumed: the same digest again.
  EXPECT_EQ((*hasher)->hex_digest("Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(KeyedHash, HmacSm3) {
  auto hasher = KeyedHasher::create(HashAlgorithm::kHmacSm3, kKey);
  ASSERT_TRUE(hasher) << hasher.status().to_string();
  EXPECT_EQ((*hasher)->hex_digest("Hi There"),
            "51b00d1fb49832bfb01c3ce27848e59f871d9ba938dc563b338ca964755cce70");
}

TEST(KeyedHash, SameKeyJoinsDifferentKeyDoesNot) {
  auto a = *KeyedHasher::create(HashAlgorithm::kHmacSha256, "county-610523-key-2025");
  auto b = *KeyedHasher::create(HashAlgorithm::kHmacSha256, "county-610523-key-2025");
  auto c = *KeyedHasher::create(HashAlgorithm::kHmacSha256, "another-county-key-2025");
  EXPECT_EQ(a->hex_digest("610523201510081231"), b->hex_digest("610523201510081231"));
  EXPECT_NE(a->hex_digest("610523201510081231"), c->hex_digest("610523201510081231"));
  EXPECT_NE(a->hex_digest("610523201510081231"), a->hex_digest("610523201510081240"));
}

TEST(KeyedHash, RefusesShortKeys) {
  EXPECT_EQ(KeyedHasher::create(HashAlgorithm::kHmacSha256, "short").code(), kHashKey);
}

TEST(Masking, KeepsSixPlusFourOfAnIdAndThreePlusFourOfAPhone) {
  EXPECT_EQ(mask_resident_id("610523201510081231"), "610523********1231");
  EXPECT_EQ(mask_phone("13812345678"), "138****5678");
  EXPECT_EQ(mask_phone("12345"), "*****");
  EXPECT_EQ(mask_middle("", 3, 4), "");
}

TEST(Masking, NamesKeepTheSurname) {
  EXPECT_EQ(mask_name("张三"), "张*");
  EXPECT_EQ(mask_name("阿依古丽·买买提"), "阿*******");
  EXPECT_EQ(mask_name("欧阳娜娜"), "欧阳**");
  EXPECT_EQ(mask_name("王"), "*");
}

}  // namespace
}  // namespace hutong::domain
