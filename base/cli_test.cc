#include "base/cli.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "gtest/gtest.h"

ABSL_FLAG(bool, augment, true, "augmentation");
ABSL_FLAG(std::string, policy, "none", "freezing policy");
ABSL_FLAG(int, epochs, 1, "epochs");
ABSL_FLAG(int, ranks, 1, "ranks");
ABSL_FLAG(std::string, out, "", "output folder");
ABSL_FLAG(double, lr, 0.1, "learning rate");
ABSL_FLAG(int64_t, batch_size, 64, "batch size");

namespace freezing::base {
namespace {

CliSpec Spec(int max_positional = 0) {
  CliSpec s;
  s.tool = "tool";
  s.summary = "does things";
  s.usage = {"tool [flags]"};
  s.groups = {{"data", {"augment", "batch_size"}},
              {"freezing", {"policy", "epochs"}}};
  s.examples = {"tool --policy=static:2", "tool --epochs=3 --ranks=2"};
  s.max_positional = max_positional;
  return s;
}

void Reset() {
  absl::SetFlag(&FLAGS_augment, true);
  absl::SetFlag(&FLAGS_policy, "none");
  absl::SetFlag(&FLAGS_epochs, 1);
  absl::SetFlag(&FLAGS_out, "");
  absl::SetFlag(&FLAGS_lr, 0.1);
  absl::SetFlag(&FLAGS_batch_size, 64);
}

TEST(CliTest, ParsesEveryForm) {
  Reset();
  absl::StatusOr<ParsedCommandLine> p = ParseCommandLine(
      Spec(), {"--policy=static:2", "--epochs", "3", "--noaugment",
               "-out=/tmp/x", "--batch-size=8", "--lr", "-1"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->help);
  EXPECT_TRUE(p->positional.empty());
  EXPECT_EQ(absl::GetFlag(FLAGS_policy), "static:2");
  EXPECT_EQ(absl::GetFlag(FLAGS_epochs), 3);
  EXPECT_FALSE(absl::GetFlag(FLAGS_augment));
  EXPECT_EQ(absl::GetFlag(FLAGS_out), "/tmp/x");
  EXPECT_EQ(absl::GetFlag(FLAGS_batch_size), 8);
  EXPECT_EQ(absl::GetFlag(FLAGS_lr), -1);
}

TEST(CliTest, PositionalArgumentsUpToTheLimit) {
  Reset();
  absl::StatusOr<ParsedCommandLine> p =
      ParseCommandLine(Spec(2), {"info", "--epochs=2", "a.pb"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->positional, (std::vector<std::string>{"info", "a.pb"}));
  p = ParseCommandLine(Spec(2), {"info", "a.pb", "b.pb"});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("'b.pb'"), std::string::npos);
  p = ParseCommandLine(Spec(2), {"--", "-x", "y"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->positional, (std::vector<std::string>{"-x", "y"}));
}

struct ErrorCase {
  std::vector<std::string> args;
  std::string needle;
};

class CliErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(CliErrorTest, IsAUsageErrorThatSaysWhatToDo) {
  Reset();
  absl::StatusOr<ParsedCommandLine> p =
      ParseCommandLine(Spec(), GetParam().args);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find(GetParam().needle), std::string::npos)
      << p.status();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CliErrorTest,
    ::testing::Values(
        // A space instead of '=' after a boolean flag.
        ErrorCase{{"--augment", "false"}, "did you mean --augment=false?"},
        ErrorCase{{"extra_junk"}, "unexpected argument 'extra_junk'"},
        ErrorCase{{"policy=static:2"}, "did you mean --policy=static:2?"},
        ErrorCase{{"--polcy=gradnorm"}, "did you mean --policy?"},
        ErrorCase{{"--epoch=3"}, "did you mean --epochs?"},
        ErrorCase{{"--frobnicate"}, "unknown flag --frobnicate; see --help"},
        ErrorCase{{"--nproc_per_node=2"}, "--ranks=N"},
        ErrorCase{{"--nproc-per-node", "2"}, "--ranks=N"},
        ErrorCase{{"--master_addr=h1"}, "--cluster"},
        ErrorCase{{"--epochs=three"}, "--epochs=three"},
        ErrorCase{{"--out"}, "--out needs a value"},
        ErrorCase{{"--out", "--epochs=2"}, "--out needs a value"},
        ErrorCase{{"--augment=maybe"}, "--augment=maybe"}));

TEST(CliTest, HelpWinsOverEverythingElse) {
  Reset();
  absl::StatusOr<ParsedCommandLine> p =
      ParseCommandLine(Spec(), {"--polcy=x", "--help"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->help);
}

TEST(CliTest, HelpShowsGroupsDefaultsExamplesAndEveryFlag) {
  const std::string help = HelpText(Spec());
  for (const char* needle :
       {"tool: does things", "data:\n  --augment\n", "freezing:\n  --policy",
        "(default: none)", "(default: 64)", "(default: empty)", "other:\n",
        "--ranks", "--lr", "examples:\n  tool --policy=static:2"}) {
    EXPECT_NE(help.find(needle), std::string::npos) << needle << "\n" << help;
  }
  // The group order is the spec's; abseil's own flags are not shown.
  EXPECT_LT(help.find("--augment"), help.find("--policy"));
  EXPECT_EQ(help.find("flagfile"), std::string::npos);
  EXPECT_EQ(help.find("--helpfull"), std::string::npos);
}

TEST(CliTest, ClosestNameNeedsALikelyTypo) {
  const std::vector<std::string> names = {"policy", "epochs", "out",
                                          "vote_rule"};
  EXPECT_EQ(ClosestName("polciy", names), "policy");
  EXPECT_EQ(ClosestName("vote-rule", names), "vote_rule");
  EXPECT_EQ(ClosestName("EPOCHS", names), "epochs");
  EXPECT_EQ(ClosestName("learning_rate", names), "");
  EXPECT_EQ(ClosestName("x", {}), "");
}

TEST(CliTest, AbseilFlagsAreNotTheBinarys) {
  const std::vector<std::string> names = BinaryFlagNames();
  EXPECT_NE(std::find(names.begin(), names.end(), "policy"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "flagfile"), names.end());
  Reset();
  EXPECT_FALSE(ParseCommandLine(Spec(), {"--flagfile=/etc/passwd"}).ok());
}

}  // namespace
}  // namespace freezing::base
