// Throughput of trace writing and reading on realistic records: ResNet-18's
// 10 children as units, 2 ranks, window W = 4 (synthetic_trace.h), as
// records/s and MB/s (rate counters), plus the cost of fdatasync per record
// and of the CRC32C alone. Counters: records and MB (10^6 bytes) are rates
// per second of real time (fdatasync waits without using the CPU).
//
//   bazel run -c opt //trace:trace_benchmark
//   bazel run -c opt //trace:trace_benchmark -- --benchmark_format=json
//
// Files go to $TEST_TMPDIR or /tmp. (The cost of collecting the statistics
// in the trainer is measured in train/, not here.)
#include <cstdlib>
#include <string>
#include <vector>

#include "base/crc32c.h"
#include "benchmark/benchmark.h"
#include "trace/synthetic_trace.h"
#include "trace/trace_reader.h"
#include "trace/trace_writer.h"

namespace freezing::trace {
namespace {

std::string BenchPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

const std::vector<TraceRecord>& Records() {
  static const auto* records =
      new std::vector<TraceRecord>(MakeSyntheticTrace(SyntheticTraceOptions()));
  return *records;
}

std::vector<TraceRecord> RecordsOfKind(TraceRecord::KindCase kind) {
  std::vector<TraceRecord> out;
  for (const TraceRecord& r : Records()) {
    if (r.kind_case() == kind) out.push_back(r);
  }
  // Intervals late in the run have all W windows: the steady state.
  if (kind == TraceRecord::kInterval) out.erase(out.begin(), out.begin() + 3);
  return out;
}

void SetRates(benchmark::State& state, int64_t records, int64_t bytes) {
  state.counters["records"] = benchmark::Counter(static_cast<double>(records),
                                                 benchmark::Counter::kIsRate);
  state.counters["MB"] = benchmark::Counter(static_cast<double>(bytes) / 1e6,
                                            benchmark::Counter::kIsRate);
  state.counters["bytes/record"] =
      records > 0 ? static_cast<double>(bytes) / records : 0.0;
}

// Writes records of one kind; arg 0: fdatasync every that many records (0:
// only at Close, the default).
void Write(benchmark::State& state, TraceRecord::KindCase kind) {
  const std::vector<TraceRecord> records = RecordsOfKind(kind);
  TraceWriterOptions options;
  options.sync_every_records = static_cast<int>(state.range(0));
  options.sync_on_close = false;
  const std::string path = BenchPath("trace_benchmark_write.trace");
  auto open = [&]() {
    absl::StatusOr<TraceWriter> w = TraceWriter::Open(path, options);
    if (!w.ok() || !w->Write(Records()[0]).ok()) {
      state.SkipWithError("cannot open the trace");
    }
    return w;
  };
  absl::StatusOr<TraceWriter> writer = open();
  if (!writer.ok()) return;
  int64_t n = 0, bytes = 0, start_bytes = writer->bytes_written();
  size_t i = 0;
  for (auto _ : state) {
    if (!writer->Write(records[i]).ok()) {
      state.SkipWithError("write failed");
      break;
    }
    if (++i == records.size()) i = 0;
    ++n;
    // Keep the file small: start over every 64 MB.
    if (writer->bytes_written() > (64 << 20)) {
      state.PauseTiming();
      bytes += writer->bytes_written() - start_bytes;
      writer->Close().IgnoreError();
      writer = open();
      start_bytes = writer->bytes_written();
      state.ResumeTiming();
    }
  }
  bytes += writer->bytes_written() - start_bytes;
  writer->Close().IgnoreError();
  SetRates(state, n, bytes);
}

void BM_WriteStep(benchmark::State& state) { Write(state, TraceRecord::kStep); }
BENCHMARK(BM_WriteStep)
    ->Arg(0)
    ->Arg(100)
    ->Arg(1)
    ->ArgName("sync_every")
    ->UseRealTime();

void BM_WriteInterval(benchmark::State& state) {
  Write(state, TraceRecord::kInterval);
}
BENCHMARK(BM_WriteInterval)->Arg(0)->ArgName("sync_every")->UseRealTime();

// A whole trace as a run writes it (header, profile, steps, intervals,
// freeze events, epochs, footer), read back by ReadTrace.
void BM_ReadTrace(benchmark::State& state) {
  const std::string path = BenchPath("trace_benchmark_read.trace");
  if (!WriteSyntheticTrace(path, SyntheticTraceOptions()).ok()) {
    state.SkipWithError("cannot write the trace");
    return;
  }
  int64_t records = 0, bytes = 0;
  for (auto _ : state) {
    const TraceContents contents = ReadTrace(path);
    if (!contents.complete()) {
      state.SkipWithError("trace not complete");
      break;
    }
    records += contents.records;
    bytes += contents.valid_bytes;
    benchmark::DoNotOptimize(contents.steps.data());
  }
  SetRates(state, records, bytes);
}
BENCHMARK(BM_ReadTrace)->UseRealTime();

// Record by record into one reused message (a streaming consumer).
void BM_ReadRecords(benchmark::State& state) {
  const std::string bytes = EncodeTrace(Records());
  int64_t records = 0, total = 0;
  TraceRecord record;
  for (auto _ : state) {
    absl::StatusOr<TraceReader> reader = TraceReader::FromBytes(bytes);
    if (!reader.ok()) {
      state.SkipWithError("bad trace");
      break;
    }
    while (reader->Next(&record).ok()) ++records;
    total += static_cast<int64_t>(bytes.size());
  }
  SetRates(state, records, total);
}
BENCHMARK(BM_ReadRecords)->UseRealTime();

void BM_Crc32c(benchmark::State& state) {
  const std::string data(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) benchmark::DoNotOptimize(base::Crc32c(data));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Crc32c)->Arg(512)->Arg(1 << 20);

}  // namespace
}  // namespace freezing::trace

BENCHMARK_MAIN();
