#include "compat.h"

#include <gtest/gtest.h>

#include <fstream>

namespace hutong::schemas {
namespace {

google::protobuf::FileDescriptorSet load(const std::string& name) {
  google::protobuf::FileDescriptorSet set;
  std::ifstream in(std::string(FIXTURE_DIR) + "/" + name + ".binpb", std::ios::binary);
  EXPECT_TRUE(in) << name;
  EXPECT_TRUE(set.ParseFromIstream(&in)) << name;
  return set;
}

std::vector<std::string> against_base(const std::string& variant) {
  return breaking_changes(load("base"), load(variant));
}

TEST(SchemaCompat, IdenticalIsCompatible) {
  EXPECT_TRUE(against_base("base").empty());
}

TEST(SchemaCompat, AdditionsAreCompatible) {
  std::vector<std::string> problems = against_base("added");
  EXPECT_TRUE(problems.empty()) << problems.front();
}

TEST(SchemaCompat, CatchesRemovedField) {
  EXPECT_EQ(
      against_base("removed_field"),
      std::vector<std::string>{"message compatfixture.Child: field age (number 2) was removed"});
}

TEST(SchemaCompat, CatchesRenumberedField) {
  EXPECT_EQ(against_base("renumbered_field"),
            std::vector<std::string>{
                "message compatfixture.Child: field age was renumbered from 2 to 9"});
}

TEST(SchemaCompat, CatchesChangedType) {
  EXPECT_EQ(against_base("changed_type"),
            std::vector<std::string>{"message compatfixture.Child: the type of field age changed "
                                     "from TYPE_INT32 to TYPE_INT64"});
}

TEST(SchemaCompat, CatchesChangedLabel) {
  EXPECT_EQ(against_base("changed_label"),
            std::vector<std::string>{
                "message compatfixture.Child: field tags changed from repeated to singular"});
}

TEST(SchemaCompat, CatchesRemovedEnumValue) {
  EXPECT_EQ(
      against_base("removed_enum_value"),
      std::vector<std::string>{"enum compatfixture.Colour: value COLOUR_GREEN (2) was removed"});
}

TEST(SchemaCompat, CatchesRemovedMessage) {
  EXPECT_EQ(against_base("removed_message"),
            std::vector<std::string>{"message compatfixture.Household was removed"});
}

TEST(SchemaCompat, GoingBackIsBreakingToo) {
  // Dropping what a later version added is a removal like any other.
  EXPECT_FALSE(breaking_changes(load("added"), load("base")).empty());
}

}  // namespace
}  // namespace hutong::schemas
