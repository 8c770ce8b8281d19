#include "trace/trace_tool.h"

#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/file.h"
#include "base/status_macros.h"
#include "google/protobuf/text_format.h"
#include "trace/chrome_trace.h"
#include "trace/trace_csv.h"

namespace freezing::trace {
namespace {

std::string Seconds(int64_t ns) { return absl::StrFormat("%.3f s", ns * 1e-9); }

std::string Millis(double ns) { return absl::StrFormat("%.3f ms", ns * 1e-6); }

std::string Bytes(int64_t bytes) {
  if (bytes >= (int64_t{1} << 30)) {
    return absl::StrFormat("%.2f GiB", bytes / 1073741824.0);
  }
  if (bytes >= (1 << 20)) return absl::StrFormat("%.2f MiB", bytes / 1048576.0);
  if (bytes >= (1 << 10)) return absl::StrFormat("%.2f KiB", bytes / 1024.0);
  return absl::StrCat(bytes, " B");
}

// What the end of reading means for the caller: OK, or the reader's error
// (reported on `err` and swallowed under allow_partial).
absl::Status Finish(const TraceContents& contents,
                    const TraceToolOptions& options, std::ostream& err) {
  if (contents.status.ok()) return absl::OkStatus();
  if (options.allow_partial) {
    err << "trace_tool: warning: used the first " << contents.valid_bytes
        << " bytes (" << contents.records
        << " records); stopped: " << contents.status << "\n";
    return absl::OkStatus();
  }
  return contents.status;
}

// Writes what `write` produces to `path` (durably, creating its folder), or
// to `fallback` when path is "" or "-".
absl::Status WithOutput(const std::string& path, std::ostream& fallback,
                        const std::function<void(std::ostream&)>& write,
                        std::ostream& err) {
  if (path.empty() || path == "-") {
    write(fallback);
    return absl::OkStatus();
  }
  std::ostringstream text;
  write(text);
  RETURN_IF_ERROR(base::MakeDirs(base::FolderOf(path)));
  RETURN_IF_ERROR(base::WriteFileAtomically(path, text.str()));
  err << "trace_tool: wrote " << path << "\n";
  return absl::OkStatus();
}

absl::Status Dump(const std::string& path, const TraceToolOptions& options,
                  std::ostream& out, std::ostream& err) {
  absl::Status status;
  int64_t valid = 0, records = 0;
  RETURN_IF_ERROR(WithOutput(
      options.out, out,
      [&](std::ostream& o) {
        absl::StatusOr<TraceReader> reader = TraceReader::Open(path);
        if (!reader.ok()) {
          status = reader.status();
          return;
        }
        google::protobuf::TextFormat::Printer printer;
        TraceRecord record;
        while (true) {
          const int64_t offset = reader->offset();
          status = reader->Next(&record);
          if (!status.ok()) break;
          std::string text;
          printer.PrintToString(record, &text);
          o << "# record " << reader->records_read() - 1 << " at byte "
            << offset << "\n"
            << text;
        }
        valid = reader->offset();
        records = reader->records_read();
      },
      err));
  if (absl::IsOutOfRange(status)) return absl::OkStatus();
  if (records == 0) return status;  // nothing usable, not even a Header
  TraceContents partial;
  partial.status = status;
  partial.valid_bytes = valid;
  partial.records = records;
  return Finish(partial, options, err);
}

// UnitName: unit `u`'s name from the header, or "#u" without one.
std::string UnitName(const TraceContents& contents, int u) {
  if (contents.header.has_value() && u >= 0 &&
      u < contents.header->units_size()) {
    return contents.header->units(u).name();
  }
  return absl::StrCat("#", u);
}

}  // namespace

std::string ResolvePath(const std::string& path, const std::string& base) {
  if (path.empty() || path[0] == '/' || base.empty()) return path;
  return absl::StrCat(base, "/", path);
}

CsvPaths CsvPathsFor(const std::string& trace_path,
                     const std::string& out_dir) {
  const size_t slash = trace_path.rfind('/');
  std::string dir =
      slash == std::string::npos ? "." : trace_path.substr(0, slash);
  std::string name =
      slash == std::string::npos ? trace_path : trace_path.substr(slash + 1);
  const size_t dot = name.rfind('.');
  if (dot != std::string::npos && dot > 0) name.resize(dot);
  if (!out_dir.empty()) dir = out_dir;
  return {absl::StrCat(dir, "/", name, ".steps.csv"),
          absl::StrCat(dir, "/", name, ".intervals.csv")};
}

namespace {

// The run's configuration, machine and libraries, from the header.
void WriteHeaderInfo(const Header& h, std::ostream& out) {
  const RunConfig& c = h.config();
  out << "schema: " << h.schema_version() << "; revision: " << h.revision()
      << "\n";
  out << "model: " << c.model() << " (" << c.stem() << " stem, "
      << c.num_classes() << " classes, " << c.in_channels()
      << " input channels), freeze unit: " << c.freeze_unit()
      << ", init: " << (c.init().empty() ? "random" : c.init()) << "\n";
  out << "data: " << c.data() << ", classes ["
      << absl::StrJoin(c.classes(), ",") << "], " << c.train_samples()
      << " train / " << c.test_samples()
      << " test samples, partition: " << c.partition() << ", shards ["
      << absl::StrJoin(c.shard_sizes(), ",") << "]"
      << ", augment: " << (c.augment() ? "on" : "off") << "\n";
  out << "optimizer: batch " << c.batch_size() << " per rank, " << c.epochs()
      << " epochs x " << c.steps_per_epoch() << " steps, lr " << c.lr() << " ("
      << c.lr_schedule() << "), momentum " << c.momentum() << ", weight decay "
      << c.weight_decay() << "\n";
  out << "freezing: policy " << c.policy() << ", vote rule " << c.vote_rule()
      << ", base interval T=" << c.stats_interval()
      << " steps, window W=" << c.stats_window() << "\n";
  out << "execution: " << c.ranks() << " ranks x " << c.threads()
      << " threads, seed " << c.seed() << ", comm " << c.comm_mode()
      << ", all-reduce "
      << (c.allreduce_algorithm().empty() ? std::string("auto")
                                          : c.allreduce_algorithm())
      << ", buckets " << Bytes(c.first_bucket_bytes()) << " first / "
      << Bytes(c.bucket_cap_bytes()) << " cap, cache "
      << (c.cache() ? absl::StrCat("on (", c.cache_mem_mb(), " MB)")
                    : std::string("off"))
      << "\n";
  out << "machine: " << h.machine().cpu_model() << ", " << h.machine().cores()
      << " cores, " << h.machine().threads_per_rank()
      << " threads per rank, host " << h.machine().hostname() << "\n";
  if (h.machine().rank_hosts_size() > 0) {
    out << "hosts of ranks 0.." << h.machine().rank_hosts_size() - 1 << ": "
        << absl::StrJoin(h.machine().rank_hosts(), " ") << "\n";
  }
  if (h.libraries_size() > 0) {
    std::vector<std::string> libs;
    for (const LibraryVersion& l : h.libraries()) {
      libs.push_back(absl::StrCat(l.name(), " ", l.version()));
    }
    out << "libraries: " << absl::StrJoin(libs, ", ") << "\n";
  }
  if (h.has_network()) {
    out << absl::StrFormat(
        "network: %s, %d ranks, alpha %.3g s, beta %.3g s/B, r2 %.4f (%s)\n",
        h.network().transport(), h.network().ranks(), h.network().alpha_s(),
        h.network().beta_s_per_byte(), h.network().r2(), h.network().source());
  }
}

// Record counts, step totals, phases and the footer.
void WriteStepsInfo(const TraceContents& contents, const TraceSummary& s,
                    std::ostream& out) {
  out << "records: " << s.records << " (steps " << s.steps << ", intervals "
      << s.intervals << ", freeze events " << s.freeze_events << ", epochs "
      << s.epochs << ", profile " << (s.has_profile ? 1 : 0) << ", footer "
      << (s.has_footer ? 1 : 0) << ", unknown " << s.unknown_records << ")\n";
  if (s.steps > 0) {
    out << "steps: " << s.first_step << ".." << s.last_step
        << "; training time " << Seconds(s.train_ns) << " (rank 0), "
        << Seconds(s.slowest_rank_train_ns) << " (slowest rank per step)"
        << "; mean step " << Millis(s.mean_step_ns) << "; eval "
        << Seconds(s.eval_ns) << "\n";
    const PhaseTimes& p = s.phases;
    const auto share = [&](int64_t ns) {
      return absl::StrFormat("%s (%.1f%%)", Seconds(ns),
                             s.train_ns > 0 ? 100.0 * ns / s.train_ns : 0.0);
    };
    out << "phases (sum over steps): data " << share(p.data_ns())
        << ", forward " << share(p.forward_ns()) << ", backward "
        << share(p.backward_ns()) << ", comm exposed "
        << share(p.comm_exposed_ns()) << " of " << Seconds(p.comm_total_ns())
        << " total, optimizer " << share(p.optimizer_ns()) << ", stats "
        << share(p.stats_ns()) << ", other " << share(p.other_ns()) << "\n";
    out << "all-reduced per rank: " << Bytes(s.bytes_allreduced) << "\n";
  }
  if (contents.footer.has_value()) {
    const Footer& f = *contents.footer;
    out << "footer: " << f.steps() << " steps, total time "
        << Seconds(f.total_time_ns()) << ", startup " << Seconds(f.startup_ns())
        << ", eval " << Seconds(f.eval_ns())
        << (f.resumed() ? ", resumed from a checkpoint" : "") << "\n";
  }
}

// Each unit with its size and whether it ended frozen.
void WriteUnitsInfo(const Header& h, const TraceSummary& s, std::ostream& out) {
  out << "units (" << h.units_size() << "):\n";
  out << absl::StrFormat("  %3s  %-16s %12s %12s %14s  %s\n", "#", "name",
                         "params", "bytes", "fwd MFLOP/smp", "at end");
  for (int u = 0; u < h.units_size(); ++u) {
    const Unit& unit = h.units(u);
    const int64_t frozen = u < static_cast<int>(s.frozen_from_step.size())
                               ? s.frozen_from_step[u]
                               : -1;
    out << absl::StrFormat(
        "  %3d  %-16s %12d %12d %14.3f  %s%s\n", u, unit.name(), unit.params(),
        unit.bytes(), unit.forward_flops_per_sample() * 1e-6,
        frozen >= 0 ? absl::StrCat("frozen from step ", frozen)
                    : std::string("trainable"),
        unit.is_classifier() ? " (classifier)" : "");
  }
  out << "params: " << h.params_size() << " tensors\n";
}

// Freeze events, epochs and the final accuracy.
void WriteEventsInfo(const TraceContents& contents, const TraceSummary& s,
                     std::ostream& out) {
  out << "freeze events (" << contents.freeze_events.size() << "):\n";
  const auto names = [&](const auto& units) {
    std::vector<std::string> n;
    for (int u : units) n.push_back(UnitName(contents, u));
    return n.empty() ? std::string("none") : absl::StrJoin(n, " ");
  };
  for (const FreezeEvent& e : contents.freeze_events) {
    out << "  step " << e.step() << " (epoch " << e.epoch() + 1 << ", interval "
        << e.interval() << "): freeze " << names(e.freeze()) << ", unfreeze "
        << names(e.unfreeze()) << "; " << e.policy() << ", rule " << e.rule()
        << ", " << e.votes_size() << " votes";
    if (!e.reason().empty()) out << ": " << e.reason();
    out << "\n";
  }
  for (const Epoch& e : contents.epochs) {
    out << absl::StrFormat(
        "epoch %d: last step %d, test accuracy %.4f, test loss %.4f, train "
        "loss %.4f, train %s, eval %s\n",
        e.epoch() + 1, e.last_step(), e.test_accuracy(), e.test_loss(),
        e.train_loss(), Seconds(e.train_ns()), Seconds(e.eval_ns()));
  }
  if (s.final_test_accuracy.has_value()) {
    out << absl::StrFormat("final test accuracy: %.4f\n",
                           *s.final_test_accuracy);
  } else {
    out << "final test accuracy: none recorded\n";
  }
  if (!contents.status.ok()) out << "stopped: " << contents.status << "\n";
}

}  // namespace

void WriteInfo(const TraceContents& contents, const TraceSummary& s,
               std::ostream& out) {
  out << "trace: " << contents.path << "\n";
  out << "state: "
      << (contents.complete()    ? "complete (has a Footer)"
          : contents.status.ok() ? "incomplete (no Footer: the run "
                                   "died or is still running)"
                                 : "damaged, read up to the error below")
      << "; " << contents.valid_bytes << " valid bytes\n";
  if (contents.header.has_value()) WriteHeaderInfo(*contents.header, out);
  WriteStepsInfo(contents, s, out);
  if (contents.header.has_value()) WriteUnitsInfo(*contents.header, s, out);
  WriteEventsInfo(contents, s, out);
}

absl::Status RunTraceTool(const std::string& command, const std::string& path,
                          const TraceToolOptions& options, std::ostream& out,
                          std::ostream& err) {
  if (command == "dump") return Dump(path, options, out, err);
  if (command != "info" && command != "to-csv" && command != "to-chrome") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown command \"", command,
                     "\"; commands: info, dump, to-csv, to-chrome"));
  }
  const TraceContents contents = ReadTrace(path);
  if (contents.records == 0 && !contents.status.ok()) {
    // Nothing usable: not a trace, or not readable at all.
    return contents.status;
  }
  if (command == "info") {
    WriteInfo(contents, Summarize(contents), out);
  } else if (command == "to-csv") {
    const std::string dir = options.out == "-" ? "" : options.out;
    const CsvPaths paths = CsvPathsFor(path, dir);
    RETURN_IF_ERROR(WithOutput(
        paths.steps, out, [&](std::ostream& o) { WriteStepsCsv(contents, o); },
        err));
    RETURN_IF_ERROR(WithOutput(
        paths.intervals, out,
        [&](std::ostream& o) { WriteIntervalsCsv(contents, o); }, err));
  } else {
    RETURN_IF_ERROR(WithOutput(
        options.out, out,
        [&](std::ostream& o) { WriteChromeTrace(contents, o); }, err));
  }
  return Finish(contents, options, err);
}

}  // namespace freezing::trace
