#include "comm/allreduce_settings.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace freezing::comm {
namespace {

void Clear() {
  for (const char* name : kAllReduceCvars) unsetenv(name);
}

TEST(AllReduceSettingsTest, OneHostKeepsTheLibrarysChoice) {
  Clear();
  ASSERT_TRUE(PinAllReduceAlgorithm("auto", /*several_hosts=*/false).ok());
  ASSERT_TRUE(PinAllReduceAlgorithm("mpich", /*several_hosts=*/true).ok());
  for (const auto& [name, value] : AllReduceSettings()) {
    EXPECT_EQ(value, "auto") << name;
  }
  EXPECT_EQ(AllReduceAlgorithmInEffect(), "mpich");
}

TEST(AllReduceSettingsTest, AutoAcrossHostsIsTheRingUnlessTheUserChose) {
  Clear();
  ASSERT_TRUE(PinAllReduceAlgorithm("auto", /*several_hosts=*/true).ok());
  EXPECT_EQ(AllReduceAlgorithmInEffect(), "ring");
  Clear();
  setenv("MPIR_CVAR_IALLREDUCE_INTRA_ALGORITHM", "tsp_tree", 1);
  ASSERT_TRUE(PinAllReduceAlgorithm("auto", /*several_hosts=*/true).ok());
  EXPECT_STREQ(std::getenv("MPIR_CVAR_IALLREDUCE_INTRA_ALGORITHM"), "tsp_tree");
  EXPECT_EQ(AllReduceAlgorithmInEffect(), "mpich");
}

TEST(AllReduceSettingsTest, RingPinsBothPaths) {
  Clear();
  ASSERT_TRUE(PinAllReduceAlgorithm("ring").ok());
  EXPECT_STREQ(std::getenv("MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM"), "nb");
  EXPECT_STREQ(std::getenv("MPIR_CVAR_IALLREDUCE_INTRA_ALGORITHM"), "tsp_ring");
  EXPECT_EQ(AllReduceAlgorithmInEffect(), "ring");
  // Twice is fine.
  EXPECT_TRUE(PinAllReduceAlgorithm("ring").ok());
}

TEST(AllReduceSettingsTest, ConflictsAndUnknownWordsAreRefused) {
  Clear();
  setenv("MPIR_CVAR_IALLREDUCE_INTRA_ALGORITHM", "tsp_tree", 1);
  absl::Status s = PinAllReduceAlgorithm("ring");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tsp_tree"), absl::string_view::npos) << s;
  Clear();
  s = PinAllReduceAlgorithm("tree");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("valid: auto"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace freezing::comm
