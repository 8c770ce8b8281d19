#include "trace/trace_tool.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "trace/synthetic_trace.h"

namespace freezing::trace {
namespace {

using ::testing::HasSubstr;

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

class TraceToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = TempDir() + "/run.trace";
    records_ = MakeSyntheticTrace(SyntheticTraceOptions());
    ASSERT_TRUE(WriteSyntheticTrace(path_, SyntheticTraceOptions()).ok());
  }

  absl::Status Run(const std::string& command, const std::string& path,
                   const TraceToolOptions& options = {}) {
    out_.str("");
    err_.str("");
    return RunTraceTool(command, path, options, out_, err_);
  }

  std::string path_;
  std::vector<TraceRecord> records_;
  std::ostringstream out_, err_;
};

TEST_F(TraceToolTest, InfoDescribesTheRun) {
  ASSERT_TRUE(Run("info", path_).ok());
  const std::string info = out_.str();
  for (const char* expected :
       {"state: complete", "model: resnet18", "policy gradnorm:interval=10",
        "base interval T=10 steps, window W=4", "2 ranks",
        "records: 96 (steps 80, intervals 8, freeze events 3, epochs 2",
        "units (10):", "layer4", "frozen from step 20", "(classifier)",
        "freeze events (3):", "final test accuracy: 0.7161",
        // Epochs counted from 1, units by name.
        "step 20 (epoch 1, interval 1): freeze conv1, unfreeze none",
        "epoch 1: last step 39", "epoch 2: last step 79"}) {
    EXPECT_THAT(info, HasSubstr(expected));
  }
}

TEST_F(TraceToolTest, DumpParsesBackToTheRecords) {
  ASSERT_TRUE(Run("dump", path_).ok());
  // Split at the "# record N at byte B" lines (comments to TextFormat).
  std::vector<std::string> blocks;
  for (absl::string_view line : absl::StrSplit(out_.str(), '\n')) {
    if (absl::StartsWith(line, "# record ")) {
      blocks.emplace_back();
      continue;
    }
    ASSERT_FALSE(blocks.empty());
    absl::StrAppend(&blocks.back(), line, "\n");
  }
  ASSERT_EQ(blocks.size(), records_.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    TraceRecord parsed;
    ASSERT_TRUE(
        google::protobuf::TextFormat::ParseFromString(blocks[i], &parsed));
    EXPECT_TRUE(
        google::protobuf::util::MessageDifferencer::Equals(parsed, records_[i]))
        << "record " << i;
  }
}

TEST_F(TraceToolTest, CsvTablesHaveOneRowPerStepAndPerNorm) {
  TraceToolOptions options;
  options.out = TempDir() + "/csv";
  ASSERT_TRUE(Run("to-csv", path_, options).ok());
  const CsvPaths paths = CsvPathsFor(path_, options.out);
  EXPECT_EQ(paths.steps, TempDir() + "/csv/run.steps.csv");  // created
  EXPECT_THAT(err_.str(), HasSubstr(paths.intervals));

  const auto rows = [](const std::string& text) {
    std::vector<std::vector<std::string>> rows;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (!line.empty()) rows.push_back(absl::StrSplit(line, ','));
    }
    return rows;
  };
  const auto steps = rows(ReadFile(paths.steps));
  ASSERT_EQ(steps.size(), 81u);
  EXPECT_EQ(steps[0].size(), 23u + 3u * 10u);
  EXPECT_EQ(steps[0][23], "forward_ns:conv1");
  for (const auto& row : steps) EXPECT_EQ(row.size(), steps[0].size());
  EXPECT_EQ(steps[80][0], "79");

  // Per interval i: windows min(4, i+1), for 10 global + 2 x 10 rank units.
  const auto intervals = rows(ReadFile(paths.intervals));
  size_t expected = 1;
  for (int i = 0; i < 8; ++i) expected += std::min(4, i + 1) * 30;
  ASSERT_EQ(intervals.size(), expected);
  for (const auto& row : intervals) {
    EXPECT_EQ(row.size(), intervals[0].size());
  }
  EXPECT_EQ(intervals[1][5], "global");
  EXPECT_EQ(intervals[1][8], "conv1");
}

TEST_F(TraceToolTest, ChromeTraceHasEveryTrack) {
  TraceToolOptions options;
  options.out = TempDir() + "/run.json";
  ASSERT_TRUE(Run("to-chrome", path_, options).ok());
  const std::string json = ReadFile(options.out);
  EXPECT_THAT(json, HasSubstr("\"traceEvents\": ["));
  EXPECT_THAT(json, HasSubstr("\"name\": \"comm: all-reduce\""));
  EXPECT_THAT(json, HasSubstr("\"name\": \"bwd layer4\""));
  EXPECT_THAT(json, HasSubstr("\"name\": \"freeze conv1\""));
  EXPECT_THAT(json, HasSubstr("\"name\": \"eval epoch 1\""));
}

TEST_F(TraceToolTest, UnknownCommandIsInvalidArgument) {
  const absl::Status status = Run("summarize", path_);
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("info, dump, to-csv, to-chrome"));
}

TEST_F(TraceToolTest, MissingFileIsNotFound) {
  for (const char* command : {"info", "dump", "to-csv", "to-chrome"}) {
    const absl::Status status = Run(command, TempDir() + "/missing.trace");
    EXPECT_TRUE(absl::IsNotFound(status)) << command << ": " << status;
  }
}

TEST_F(TraceToolTest, CutTraceUsesThePrefixAndFails) {
  const std::string bytes = ReadFile(path_);
  const std::string cut = TempDir() + "/cut.trace";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  for (const char* command : {"info", "dump"}) {
    const absl::Status status = Run(command, cut);
    EXPECT_TRUE(absl::IsDataLoss(status)) << command << ": " << status;
    EXPECT_THAT(status.message(), HasSubstr("truncated"));
    EXPECT_FALSE(out_.str().empty()) << command;
  }
  EXPECT_THAT(out_.str(), HasSubstr("# record 40 at byte"));
  TraceToolOptions partial;
  partial.allow_partial = true;
  ASSERT_TRUE(Run("info", cut, partial).ok());
  EXPECT_THAT(out_.str(), HasSubstr("state: damaged"));
  EXPECT_THAT(out_.str(), HasSubstr("stopped: DATA_LOSS"));
  EXPECT_THAT(err_.str(), HasSubstr("warning: used the first"));
}

TEST_F(TraceToolTest, NotATraceFailsEvenWithAllowPartial) {
  const std::string text = TempDir() + "/notes.txt";
  std::ofstream(text) << "not a trace\n";
  TraceToolOptions partial;
  partial.allow_partial = true;
  for (const char* command : {"info", "dump", "to-csv", "to-chrome"}) {
    const absl::Status status = Run(command, text, partial);
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << command << ": " << status;
    EXPECT_THAT(status.message(), HasSubstr("bad magic"));
  }
}

TEST(TraceToolPathsTest, ResolveAndCsvNames) {
  EXPECT_EQ(ResolvePath("a/t.pb", "/home/me"), "/home/me/a/t.pb");
  EXPECT_EQ(ResolvePath("/abs/t.pb", "/home/me"), "/abs/t.pb");
  EXPECT_EQ(ResolvePath("t.pb", ""), "t.pb");
  EXPECT_EQ(CsvPathsFor("/r/trace.pb", "").steps, "/r/trace.steps.csv");
  EXPECT_EQ(CsvPathsFor("trace.pb", "").intervals, "./trace.intervals.csv");
  EXPECT_EQ(CsvPathsFor("/r/trace", "/o").steps, "/o/trace.steps.csv");
  EXPECT_EQ(CsvPathsFor("/t.pb", "").steps, "/t.steps.csv");
}

}  // namespace
}  // namespace freezing::trace
