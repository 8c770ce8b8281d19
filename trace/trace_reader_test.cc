#include "trace/trace_reader.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/crc32c.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "trace/synthetic_trace.h"
#include "trace/trace_format.h"
#include "trace/trace_writer.h"

namespace freezing::trace {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// A trace small enough to cut and damage at every byte (a few KB).
SyntheticTraceOptions SmallOptions() {
  SyntheticTraceOptions o;
  o.units = 3;
  o.ranks = 2;
  o.stats_interval = 2;
  o.stats_window = 2;
  o.steps_per_epoch = 4;
  o.epochs = 2;
  o.freeze_every_intervals = 2;
  return o;
}

// Offsets of each record's first byte, then the end of the file.
std::vector<int64_t> RecordStarts(const std::vector<TraceRecord>& records) {
  std::vector<int64_t> starts = {static_cast<int64_t>(kFileHeaderBytes)};
  for (const TraceRecord& r : records) {
    starts.push_back(starts.back() + kRecordOverheadBytes +
                     static_cast<int64_t>(r.ByteSizeLong()));
  }
  return starts;
}

// The index of the record that holds byte `offset`.
size_t RecordAt(const std::vector<int64_t>& starts, int64_t offset) {
  size_t i = 0;
  while (starts[i + 1] <= offset) ++i;
  return i;
}

void ExpectPrefix(const TraceContents& contents,
                  const std::vector<TraceRecord>& records, size_t count) {
  // Re-assemble what ReadTrace kept and compare with the first `count`.
  ASSERT_EQ(contents.records, static_cast<int64_t>(count));
  std::vector<TraceRecord> kept;
  size_t step = 0, interval = 0, freeze = 0, epoch = 0;
  for (size_t i = 0; i < count; ++i) {
    const TraceRecord& want = records[i];
    switch (want.kind_case()) {
      case TraceRecord::kHeader:
        ASSERT_TRUE(contents.header.has_value());
        EXPECT_TRUE(
            MessageDifferencer::Equals(*contents.header, want.header()));
        break;
      case TraceRecord::kProfile:
        ASSERT_TRUE(contents.profile.has_value());
        EXPECT_TRUE(
            MessageDifferencer::Equals(*contents.profile, want.profile()));
        break;
      case TraceRecord::kStep:
        ASSERT_LT(step, contents.steps.size());
        EXPECT_TRUE(
            MessageDifferencer::Equals(contents.steps[step++], want.step()));
        break;
      case TraceRecord::kInterval:
        ASSERT_LT(interval, contents.intervals.size());
        EXPECT_TRUE(MessageDifferencer::Equals(contents.intervals[interval++],
                                               want.interval()));
        break;
      case TraceRecord::kFreezeEvent:
        ASSERT_LT(freeze, contents.freeze_events.size());
        EXPECT_TRUE(MessageDifferencer::Equals(contents.freeze_events[freeze++],
                                               want.freeze_event()));
        break;
      case TraceRecord::kEpoch:
        ASSERT_LT(epoch, contents.epochs.size());
        EXPECT_TRUE(
            MessageDifferencer::Equals(contents.epochs[epoch++], want.epoch()));
        break;
      case TraceRecord::kFooter:
        ASSERT_TRUE(contents.footer.has_value());
        EXPECT_TRUE(
            MessageDifferencer::Equals(*contents.footer, want.footer()));
        break;
      case TraceRecord::KIND_NOT_SET:
        break;
    }
  }
  EXPECT_EQ(contents.steps.size(), step);
  EXPECT_EQ(contents.intervals.size(), interval);
  EXPECT_EQ(contents.freeze_events.size(), freeze);
  EXPECT_EQ(contents.epochs.size(), epoch);
}

TEST(TraceReaderTest, RoundTripThroughAFile) {
  const std::vector<TraceRecord> records =
      MakeSyntheticTrace(SyntheticTraceOptions());
  const std::string path = TempPath("round_trip.trace");
  ASSERT_TRUE(WriteSyntheticTrace(path, SyntheticTraceOptions()).ok());

  absl::StatusOr<TraceReader> reader = TraceReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  const std::vector<int64_t> starts = RecordStarts(records);
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(reader->offset(), starts[i]);
    absl::StatusOr<TraceRecord> record = reader->Next();
    ASSERT_TRUE(record.ok()) << record.status();
    EXPECT_TRUE(MessageDifferencer::Equals(*record, records[i]))
        << "record " << i;
  }
  const absl::Status end = reader->Next().status();
  EXPECT_TRUE(absl::IsOutOfRange(end)) << end;
  // The end is sticky.
  EXPECT_TRUE(absl::IsOutOfRange(reader->Next().status()));
  EXPECT_EQ(reader->records_read(), static_cast<int64_t>(records.size()));
  EXPECT_EQ(reader->offset(), starts.back());

  const TraceContents contents = ReadTrace(path);
  EXPECT_TRUE(contents.status.ok()) << contents.status;
  EXPECT_TRUE(contents.complete());
  EXPECT_EQ(contents.valid_bytes, starts.back());
  ExpectPrefix(contents, records, records.size());
  EXPECT_EQ(contents.steps.size(), 80u);
  EXPECT_EQ(contents.intervals.size(), 8u);
  EXPECT_EQ(contents.epochs.size(), 2u);
  EXPECT_FALSE(contents.freeze_events.empty());
}

TEST(TraceReaderTest, WriterAndEncoderProduceTheSameBytes) {
  const std::vector<TraceRecord> records = MakeSyntheticTrace(SmallOptions());
  const std::string path = TempPath("same_bytes.trace");
  ASSERT_TRUE(WriteSyntheticTrace(path, SmallOptions()).ok());
  std::ifstream in(path, std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  EXPECT_EQ(file, EncodeTrace(records));
}

TEST(TraceReaderTest, TruncatedAtEveryRecordBoundaryKeepsThePrefix) {
  const std::vector<TraceRecord> records = MakeSyntheticTrace(SmallOptions());
  const std::string bytes = EncodeTrace(records);
  const std::vector<int64_t> starts = RecordStarts(records);
  ASSERT_EQ(starts.back(), static_cast<int64_t>(bytes.size()));
  for (size_t i = 0; i < starts.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("cut after ", i, " records"));
    const TraceContents contents =
        ReadTraceFromBytes(absl::string_view(bytes).substr(0, starts[i]));
    if (i == 0) {
      // Magic and version but no records: the run wrote nothing.
      EXPECT_TRUE(absl::IsInvalidArgument(contents.status)) << contents.status;
      EXPECT_THAT(contents.status.message(), HasSubstr("missing Header"));
      continue;
    }
    EXPECT_TRUE(contents.status.ok()) << contents.status;
    EXPECT_EQ(contents.valid_bytes, starts[i]);
    EXPECT_EQ(contents.complete(), i == records.size());
    ExpectPrefix(contents, records, i);
  }
}

TEST(TraceReaderTest, TruncatedInsideARecordIsDataLossAtItsStart) {
  const std::vector<TraceRecord> records = MakeSyntheticTrace(SmallOptions());
  const std::string bytes = EncodeTrace(records);
  const std::vector<int64_t> starts = RecordStarts(records);
  for (int64_t cut = kFileHeaderBytes; cut < starts.back(); ++cut) {
    const size_t index = RecordAt(starts, cut);
    if (starts[index] == cut) continue;  // a boundary: the test above
    SCOPED_TRACE(absl::StrCat("cut at byte ", cut));
    const TraceContents contents =
        ReadTraceFromBytes(absl::string_view(bytes).substr(0, cut));
    ASSERT_TRUE(absl::IsDataLoss(contents.status)) << contents.status;
    EXPECT_THAT(contents.status.message(),
                HasSubstr(absl::StrCat("byte ", starts[index], " (record ",
                                       index, ")")));
    const bool in_header = cut - starts[index] < kRecordHeaderBytes;
    EXPECT_THAT(
        contents.status.message(),
        HasSubstr(in_header ? "truncated record header" : "truncated payload"));
    EXPECT_EQ(contents.valid_bytes, starts[index]);
    ExpectPrefix(contents, records, index);
  }
}

TEST(TraceReaderTest, FlippedByteAnywhereIsReportedAtItsRecord) {
  const std::vector<TraceRecord> records = MakeSyntheticTrace(SmallOptions());
  const std::string good = EncodeTrace(records);
  const std::vector<int64_t> starts = RecordStarts(records);
  for (int64_t pos = 0; pos < static_cast<int64_t>(good.size()); ++pos) {
    for (const char mask : {'\x01', '\x80', '\xFF'}) {
      SCOPED_TRACE(absl::StrCat("byte ", pos, " mask ", int{mask & 0xFF}));
      std::string bytes = good;
      bytes[pos] ^= mask;
      const TraceContents contents = ReadTraceFromBytes(bytes);
      if (pos < static_cast<int64_t>(kMagicBytes)) {
        EXPECT_TRUE(absl::IsInvalidArgument(contents.status))
            << contents.status;
        EXPECT_THAT(contents.status.message(), HasSubstr("bad magic"));
        continue;
      }
      if (pos < static_cast<int64_t>(kFileHeaderBytes)) {
        EXPECT_TRUE(absl::IsFailedPrecondition(contents.status))
            << contents.status;
        EXPECT_THAT(contents.status.message(), HasSubstr("format version"));
        continue;
      }
      const size_t index = RecordAt(starts, pos);
      ASSERT_TRUE(absl::IsDataLoss(contents.status)) << contents.status;
      EXPECT_THAT(contents.status.message(),
                  HasSubstr(absl::StrCat("byte ", starts[index], " (record ",
                                         index, ")")));
      const bool in_header = pos - starts[index] < kRecordHeaderBytes;
      EXPECT_THAT(contents.status.message(),
                  HasSubstr(in_header ? "bad record header checksum"
                                      : "bad payload checksum"));
      EXPECT_EQ(contents.valid_bytes, starts[index]);
      ExpectPrefix(contents, records, index);
    }
  }
}

std::string WithVersion(uint32_t version) {
  std::string bytes = EncodeTrace(MakeSyntheticTrace(SmallOptions()));
  EncodeLittleEndian32(version, bytes.data() + kMagicBytes);
  return bytes;
}

TEST(TraceReaderTest, WrongFormatVersionIsFailedPrecondition) {
  for (const uint32_t version : {0u, 2u, 0xFFFFFFFFu}) {
    const std::string bytes = WithVersion(version);
    const absl::StatusOr<TraceReader> reader =
        TraceReader::FromBytes(bytes, "v.trace");
    ASSERT_FALSE(reader.ok());
    EXPECT_TRUE(absl::IsFailedPrecondition(reader.status())) << reader.status();
    EXPECT_THAT(reader.status().message(),
                HasSubstr(absl::StrCat("v.trace: format version ", version)));
  }
}

TEST(TraceReaderTest, NotATraceIsInvalidArgument) {
  for (const std::string bytes :
       {std::string("PK\x03\x04 a zip file, not a trace"),
        std::string("step,epoch,loss\n0,0,2.3\n"), std::string(100, '\0')}) {
    const absl::StatusOr<TraceReader> reader = TraceReader::FromBytes(bytes);
    ASSERT_FALSE(reader.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(reader.status())) << reader.status();
    EXPECT_THAT(reader.status().message(), HasSubstr("bad magic"));
  }
}

TEST(TraceReaderTest, TruncatedFileHeaderIsDataLoss) {
  const std::string header = EncodeFileHeader();
  for (size_t n = 1; n < kFileHeaderBytes; ++n) {
    const absl::StatusOr<TraceReader> reader =
        TraceReader::FromBytes(absl::string_view(header).substr(0, n));
    ASSERT_FALSE(reader.ok());
    EXPECT_TRUE(absl::IsDataLoss(reader.status())) << reader.status();
    EXPECT_THAT(reader.status().message(), HasSubstr("truncated file header"));
  }
}

TEST(TraceReaderTest, EmptyFileIsInvalidArgument) {
  const std::string path = TempPath("empty.trace");
  WriteFile(path, "");
  const absl::StatusOr<TraceReader> reader = TraceReader::Open(path);
  ASSERT_FALSE(reader.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(reader.status())) << reader.status();
  EXPECT_THAT(reader.status().message(), HasSubstr(path + ": empty file"));
  const TraceContents contents = ReadTrace(path);
  EXPECT_TRUE(absl::IsInvalidArgument(contents.status));
  EXPECT_EQ(contents.records, 0);
}

TEST(TraceReaderTest, MissingFileIsNotFound) {
  const std::string path = TempPath("no_such_dir/trace.pb");
  const absl::StatusOr<TraceReader> reader = TraceReader::Open(path);
  EXPECT_TRUE(absl::IsNotFound(reader.status())) << reader.status();
  EXPECT_THAT(reader.status().message(), HasSubstr(path));
}

TEST(TraceReaderTest, DirectoryIsAnErrorNotACrash) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const TraceContents contents = ReadTrace(dir != nullptr ? dir : "/tmp");
  EXPECT_FALSE(contents.status.ok());
  EXPECT_EQ(contents.records, 0);
}

std::string Frame(const std::vector<TraceRecord>& records) {
  std::string bytes = EncodeFileHeader();
  for (const TraceRecord& r : records) {
    AppendFramedRecord(r.SerializeAsString(), &bytes);
  }
  return bytes;
}

TraceRecord HeaderRecord(uint32_t schema_version) {
  TraceRecord r;
  r.mutable_header()->set_schema_version(schema_version);
  return r;
}

TEST(TraceReaderTest, FirstRecordMustBeAHeader) {
  TraceRecord step;
  step.mutable_step()->set_step(0);
  const std::string bytes = Frame({step, HeaderRecord(kSchemaVersion)});
  absl::StatusOr<TraceReader> reader = TraceReader::FromBytes(bytes);
  ASSERT_TRUE(reader.ok());
  const absl::Status status = reader->Next().status();
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_THAT(status.message(),
              HasSubstr("byte 12 (record 0): missing Header: the first "
                        "record is a Step"));
  // Errors are sticky.
  EXPECT_EQ(reader->Next().status(), status);
  EXPECT_EQ(reader->offset(), 12);
}

TEST(TraceReaderTest, HeaderSchemaVersionIsChecked) {
  const absl::Status unset =
      ReadTraceFromBytes(Frame({HeaderRecord(0)})).status;
  EXPECT_TRUE(absl::IsInvalidArgument(unset)) << unset;
  EXPECT_THAT(unset.message(), HasSubstr("no schema_version"));
  const absl::Status newer =
      ReadTraceFromBytes(Frame({HeaderRecord(kSchemaVersion + 1)})).status;
  EXPECT_TRUE(absl::IsFailedPrecondition(newer)) << newer;
  EXPECT_THAT(newer.message(), HasSubstr("schema version"));
}

// A record header whose length field has a valid checksum.
std::string RecordHeader(uint32_t length) {
  std::string h(8, '\0');
  EncodeLittleEndian32(length, h.data());
  EncodeLittleEndian32(base::Crc32c(absl::string_view(h.data(), 4)),
                       h.data() + 4);
  return h;
}

TEST(TraceReaderTest, RecordTooLargeIsDataLoss) {
  const std::string good = Frame({HeaderRecord(kSchemaVersion)});
  const TraceContents contents =
      ReadTraceFromBytes(good + RecordHeader(kMaxRecordBytes + 1) + "abc");
  EXPECT_TRUE(absl::IsDataLoss(contents.status)) << contents.status;
  EXPECT_THAT(contents.status.message(), HasSubstr("record too large"));
  EXPECT_EQ(contents.records, 1);
  EXPECT_EQ(contents.valid_bytes, static_cast<int64_t>(good.size()));
}

TEST(TraceReaderTest, HugeLengthInATinyFileIsTruncatedPayload) {
  const std::string good = Frame({HeaderRecord(kSchemaVersion)});
  const TraceContents contents =
      ReadTraceFromBytes(good + RecordHeader(kMaxRecordBytes) + "abc");
  EXPECT_TRUE(absl::IsDataLoss(contents.status)) << contents.status;
  EXPECT_THAT(contents.status.message(),
              HasSubstr(absl::StrCat("truncated payload: 3 of ",
                                     kMaxRecordBytes, " bytes")));
}

TEST(TraceReaderTest, UnparsablePayloadWithGoodChecksumIsDataLoss) {
  std::string bytes = Frame({HeaderRecord(kSchemaVersion)});
  // A field tag with wire type 7, which does not exist.
  AppendFramedRecord("\x0F\x01\x02", &bytes);
  const TraceContents contents = ReadTraceFromBytes(bytes);
  EXPECT_TRUE(absl::IsDataLoss(contents.status)) << contents.status;
  EXPECT_THAT(contents.status.message(), HasSubstr("unparsable payload"));
  EXPECT_EQ(contents.records, 1);
}

TEST(TraceReaderTest, RecordsOfAnUnknownKindAreCountedAndSkipped) {
  std::string bytes = Frame({HeaderRecord(kSchemaVersion)});
  // Field 15 (varint): a record kind a newer writer might add.
  AppendFramedRecord("\x78\x01", &bytes);
  AppendFramedRecord("", &bytes);
  const TraceContents contents = ReadTraceFromBytes(bytes);
  EXPECT_TRUE(contents.status.ok()) << contents.status;
  EXPECT_EQ(contents.records, 3);
  EXPECT_EQ(contents.unknown_records, 2);
}

TEST(TraceReaderTest, RecordsOutOfOrderStopReadTrace) {
  TraceRecord footer;
  footer.mutable_footer()->set_steps(1);
  TraceRecord profile;
  profile.mutable_profile()->set_batch_size(1);
  TraceRecord step;
  step.mutable_step()->set_step(0);
  struct Case {
    std::vector<TraceRecord> records;
    const char* message;
    int64_t kept;
  };
  const Case kCases[] = {
      {{HeaderRecord(1), HeaderRecord(1)}, "a second Header", 1},
      {{HeaderRecord(1), profile, profile}, "a second StartupProfile", 2},
      {{HeaderRecord(1), footer, step}, "a Step after the Footer", 2},
      {{HeaderRecord(1), footer, footer}, "a Footer after the Footer", 2},
  };
  for (const Case& c : kCases) {
    const TraceContents contents = ReadTraceFromBytes(Frame(c.records));
    EXPECT_TRUE(absl::IsInvalidArgument(contents.status)) << contents.status;
    EXPECT_THAT(contents.status.message(), HasSubstr(c.message));
    EXPECT_EQ(contents.records, c.kept);
  }
}

TEST(TraceReaderTest, TraceOfARunThatDiedIsIncompleteButReadable) {
  SyntheticTraceOptions o = SmallOptions();
  o.with_footer = false;
  const TraceContents contents =
      ReadTraceFromBytes(EncodeTrace(MakeSyntheticTrace(o)));
  EXPECT_TRUE(contents.status.ok()) << contents.status;
  EXPECT_FALSE(contents.complete());
  EXPECT_EQ(contents.steps.size(), 8u);
}

}  // namespace
}  // namespace freezing::trace
