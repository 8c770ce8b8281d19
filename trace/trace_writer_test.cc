#include "trace/trace_writer.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "trace/synthetic_trace.h"
#include "trace/trace_format.h"
#include "trace/trace_reader.h"

namespace freezing::trace {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

TraceRecord HeaderRecord() {
  TraceRecord r;
  r.mutable_header()->set_schema_version(kSchemaVersion);
  r.mutable_header()->mutable_config()->set_model("resnet18");
  return r;
}

TraceRecord StepRecord(int64_t step) {
  TraceRecord r;
  r.mutable_step()->set_step(step);
  r.mutable_step()->mutable_phases()->set_total_ns(1000 + step);
  return r;
}

TEST(TraceWriterTest, EveryAcceptedRecordIsInTheFileBeforeClose) {
  const std::string path = TempPath("open.trace");
  absl::StatusOr<TraceWriter> writer = TraceWriter::Open(path);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE(writer->Write(HeaderRecord()).ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(writer->Write(StepRecord(i)).ok());
    // Read while the writer is still open: nothing may sit in a buffer.
    const TraceContents contents = ReadTrace(path);
    ASSERT_TRUE(contents.status.ok()) << contents.status;
    ASSERT_EQ(contents.steps.size(), static_cast<size_t>(i + 1));
    EXPECT_TRUE(MessageDifferencer::Equals(contents.steps.back(),
                                           StepRecord(i).step()));
    EXPECT_EQ(contents.valid_bytes, writer->bytes_written());
  }
  EXPECT_EQ(writer->records_written(), 6);
  EXPECT_TRUE(writer->Close().ok());
}

TEST(TraceWriterTest, AKilledRunKeepsEverythingItWrote) {
  const std::string path = TempPath("killed.trace");
  const std::vector<TraceRecord> records =
      MakeSyntheticTrace(SyntheticTraceOptions());
  const size_t kWritten = 37;
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child writes some records and dies without closing anything.
    absl::StatusOr<TraceWriter> writer = TraceWriter::Open(path);
    if (!writer.ok()) _exit(2);
    for (size_t i = 0; i < kWritten; ++i) {
      if (!writer->Write(records[i]).ok()) _exit(3);
    }
    raise(SIGKILL);
    _exit(4);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exited " << WEXITSTATUS(wstatus);
  const TraceContents contents = ReadTrace(path);
  EXPECT_TRUE(contents.status.ok()) << contents.status;
  EXPECT_EQ(contents.records, static_cast<int64_t>(kWritten));
  EXPECT_FALSE(contents.complete());
}

TEST(TraceWriterTest, FirstRecordMustBeAHeaderOfThisSchema) {
  const std::string path = TempPath("first.trace");
  absl::StatusOr<TraceWriter> writer = TraceWriter::Open(path);
  ASSERT_TRUE(writer.ok());
  absl::Status status = writer->Write(StepRecord(0));
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr(path));
  TraceRecord old_header = HeaderRecord();
  old_header.mutable_header()->set_schema_version(0);
  status = writer->Write(old_header);
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("schema_version"));
  // Refused records are not written.
  EXPECT_EQ(writer->bytes_written(), static_cast<int64_t>(kFileHeaderBytes));
  EXPECT_TRUE(writer->Write(HeaderRecord()).ok());
  status = writer->Write(HeaderRecord());
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("second Header"));
  TraceRecord footer;
  footer.mutable_footer()->set_steps(0);
  EXPECT_TRUE(writer->Write(footer).ok());
  status = writer->Write(StepRecord(1));
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("after the Footer"));
  EXPECT_TRUE(writer->Close().ok());
  const TraceContents contents = ReadTrace(path);
  EXPECT_TRUE(contents.complete()) << contents.status;
  EXPECT_EQ(contents.records, 2);
}

TEST(TraceWriterTest, WriteAfterCloseIsFailedPrecondition) {
  absl::StatusOr<TraceWriter> writer =
      TraceWriter::Open(TempPath("closed.trace"));
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer->Write(HeaderRecord()).ok());
  EXPECT_TRUE(writer->Close().ok());
  EXPECT_TRUE(writer->Close().ok());  // a second Close does nothing
  const absl::Status status = writer->Write(StepRecord(0));
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_TRUE(absl::IsFailedPrecondition(writer->Sync()));
}

TEST(TraceWriterTest, MovedWriterKeepsWriting) {
  const std::string path = TempPath("moved.trace");
  absl::StatusOr<TraceWriter> opened = TraceWriter::Open(path);
  ASSERT_TRUE(opened.ok());
  TraceWriter writer = std::move(*opened);
  ASSERT_TRUE(writer.Write(HeaderRecord()).ok());
  TraceWriter other = std::move(writer);
  ASSERT_TRUE(other.Write(StepRecord(0)).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(writer.Write(StepRecord(1))));
  EXPECT_TRUE(other.Close().ok());
  EXPECT_EQ(ReadTrace(path).records, 2);
}

TEST(TraceWriterTest, SyncEveryRecord) {
  const std::string path = TempPath("synced.trace");
  TraceWriterOptions options;
  options.sync_every_records = 1;
  absl::StatusOr<TraceWriter> writer = TraceWriter::Open(path, options);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer->Write(HeaderRecord()).ok());
  ASSERT_TRUE(writer->Write(StepRecord(0)).ok());
  EXPECT_TRUE(writer->Close().ok());
  EXPECT_EQ(ReadTrace(path).records, 2);

  options.sync_every_records = -1;
  const absl::Status status = TraceWriter::Open(path, options).status();
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
}

TEST(TraceWriterTest, MissingFolderIsNotFoundWithThePath) {
  const std::string path = TempPath("no_such_folder/trace.pb");
  const absl::Status status = TraceWriter::Open(path).status();
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr(path));
}

TEST(TraceWriterTest, FullDiskIsAnErrorWithThePath) {
  // /dev/full fails every write with ENOSPC.
  const absl::Status status = TraceWriter::Open("/dev/full").status();
  EXPECT_TRUE(absl::IsResourceExhausted(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("/dev/full"));
}

}  // namespace
}  // namespace freezing::trace
