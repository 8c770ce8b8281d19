// _freezing: the project's pure C++ libraries as a Python extension, so that a
// PyTorch job runs exactly the code our trainer runs (no policy logic or trace
// framing written twice):
//   - freeze/: PolicyContext, MakePolicy / FreezePolicy, Freezer with the vote
//     rules, SelectWindow, VoteWeight, CombineVotes, ApplyGuards, the policy
//     and Freezer state (SaveState / LoadState);
//   - freeze_trace/: the conversions between statistics and decisions and
//     their trace records (ToTraceInterval, ToBaseIntervalStats,
//     ToTraceFreezeEvent, EncodeVotes / DecodeVotes);
//   - trace/: TraceWriter (the CRC32C-framed record stream of
//     trace_format.h) and base/'s Crc32c.
// No libtorch: the Python side (freezing_torch) owns everything torch.
//
// Records cross the boundary as serialized freezing.trace messages (bytes):
// the Python side builds them with the trace_pb2 module generated from the
// same trace.proto, this side parses them into the C++ classes.
//
// Errors: an absl::Status that is not OK is raised with its message
// unchanged: InvalidArgument, OutOfRange and DataLoss (fix the input) as
// ValueError; NotFound, PermissionDenied, AlreadyExists and other I/O
// failures as the matching OSError; FailedPrecondition and the rest as
// RuntimeError.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/crc32c.h"
#include "freeze/freezer.h"
#include "freeze/policy.h"
#include "freeze/stats.h"
#include "freeze/window_norms.h"
#include "freeze_trace/convert.h"
#include "trace/trace.pb.h"
#include "trace/trace_format.h"
#include "trace/trace_writer.h"

namespace freezing::pytorch {
namespace {

namespace py = pybind11;

// RaiseIfError: raises `status` as the Python exception its code calls for.
void RaiseIfError(const absl::Status& status) {
  if (status.ok()) return;
  const std::string message(status.message());
  PyObject* type = PyExc_RuntimeError;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kDataLoss:
      type = PyExc_ValueError;
      break;
    case absl::StatusCode::kNotFound:
      type = PyExc_FileNotFoundError;
      break;
    case absl::StatusCode::kPermissionDenied:
      type = PyExc_PermissionError;
      break;
    case absl::StatusCode::kAlreadyExists:
      type = PyExc_FileExistsError;
      break;
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
      type = PyExc_OSError;
      break;
    default:
      break;
  }
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

template <typename T>
T ValueOrRaise(absl::StatusOr<T> value) {
  RaiseIfError(value.status());
  return *std::move(value);
}

template <typename Message>
Message ParseOrRaise(const py::bytes& bytes, const char* what) {
  Message m;
  if (!m.ParseFromString(std::string(bytes))) {
    PyErr_SetString(
        PyExc_ValueError,
        (std::string("not a serialized freezing.trace.") + what).c_str());
    throw py::error_already_set();
  }
  return m;
}

py::bytes Serialize(const google::protobuf::Message& m) {
  return py::bytes(m.SerializeAsString());
}

// The Python exchange: called with this process's votes as EncodeVotes bytes,
// returns every rank's bytes (an all-gather); decoded here.
freeze::VoteExchange WrapExchange(const py::object& exchange) {
  if (exchange.is_none()) return nullptr;
  py::function fn = exchange.cast<py::function>();
  return [fn](const std::vector<freeze::Vote>& mine)
             -> absl::StatusOr<std::vector<freeze::Vote>> {
    py::object result = fn(py::bytes(freeze_trace::EncodeVotes(mine)));
    std::vector<freeze::Vote> all;
    for (const py::handle& item : result) {
      absl::Status s =
          freeze_trace::DecodeVotes(std::string(item.cast<py::bytes>()), all);
      if (!s.ok()) return s;
    }
    return all;
  };
}

std::string RuleName(freeze::VoteRule rule) {
  return freeze::VoteRuleName(rule);
}

// The base-interval statistics the recorder fills (freeze/stats.h).
void BindWindowStats(py::module_& m) {
  py::class_<freeze::UnitInfo>(m, "UnitInfo")
      .def(py::init([](std::string name, int64_t params, bool is_classifier) {
             return freeze::UnitInfo{std::move(name), params, is_classifier};
           }),
           py::arg("name"), py::arg("params") = 0,
           py::arg("is_classifier") = false)
      .def_readwrite("name", &freeze::UnitInfo::name)
      .def_readwrite("params", &freeze::UnitInfo::params)
      .def_readwrite("is_classifier", &freeze::UnitInfo::is_classifier);

  py::class_<freeze::WindowNorms>(m, "WindowNorms")
      .def(py::init([](std::vector<double> l2, std::vector<double> l1,
                       std::vector<double> dot_global,
                       std::vector<int64_t> trained_steps) {
             return freeze::WindowNorms{std::move(l2), std::move(l1),
                                        std::move(dot_global),
                                        std::move(trained_steps)};
           }),
           py::arg("l2") = std::vector<double>{},
           py::arg("l1") = std::vector<double>{},
           py::arg("dot_global") = std::vector<double>{},
           py::arg("trained_steps") = std::vector<int64_t>{})
      .def_readwrite("l2", &freeze::WindowNorms::l2)
      .def_readwrite("l1", &freeze::WindowNorms::l1)
      .def_readwrite("dot_global", &freeze::WindowNorms::dot_global)
      .def_readwrite("trained_steps", &freeze::WindowNorms::trained_steps);

  py::class_<freeze::RankWindowStats>(m, "RankWindowStats")
      .def(py::init([](int rank, std::vector<int64_t> samples,
                       std::vector<double> mean_loss,
                       std::vector<freeze::WindowNorms> units) {
             return freeze::RankWindowStats{rank, std::move(samples),
                                            std::move(mean_loss),
                                            std::move(units)};
           }),
           py::arg("rank") = 0, py::arg("samples") = std::vector<int64_t>{},
           py::arg("mean_loss") = std::vector<double>{},
           py::arg("units") = std::vector<freeze::WindowNorms>{})
      .def_readwrite("rank", &freeze::RankWindowStats::rank)
      .def_readwrite("samples", &freeze::RankWindowStats::samples)
      .def_readwrite("mean_loss", &freeze::RankWindowStats::mean_loss)
      .def_readwrite("units", &freeze::RankWindowStats::units);

  // `global` is a Python keyword: the field is `global_norms` here.
  py::class_<freeze::BaseIntervalStats>(m, "BaseIntervalStats")
      .def(py::init([](int64_t index, int64_t first_step, int64_t last_step,
                       int epoch, double progress,
                       std::vector<freeze::WindowNorms> global_norms,
                       std::vector<freeze::RankWindowStats> ranks) {
             freeze::BaseIntervalStats s;
             s.index = index;
             s.first_step = first_step;
             s.last_step = last_step;
             s.epoch = epoch;
             s.progress = progress;
             s.global = std::move(global_norms);
             s.ranks = std::move(ranks);
             return s;
           }),
           py::arg("index") = 0, py::arg("first_step") = 0,
           py::arg("last_step") = 0, py::arg("epoch") = 0,
           py::arg("progress") = 0.0,
           py::arg("global_norms") = std::vector<freeze::WindowNorms>{},
           py::arg("ranks") = std::vector<freeze::RankWindowStats>{})
      .def_readwrite("index", &freeze::BaseIntervalStats::index)
      .def_readwrite("first_step", &freeze::BaseIntervalStats::first_step)
      .def_readwrite("last_step", &freeze::BaseIntervalStats::last_step)
      .def_readwrite("epoch", &freeze::BaseIntervalStats::epoch)
      .def_readwrite("progress", &freeze::BaseIntervalStats::progress)
      .def_readwrite("global_norms", &freeze::BaseIntervalStats::global)
      .def_readwrite("ranks", &freeze::BaseIntervalStats::ranks);
}

// The per-interval view policies decide on, and the window selection.
void BindIntervalStats(py::module_& m) {
  py::class_<freeze::UnitNorms>(m, "UnitNorms")
      .def(py::init([](double l2, double l1, int64_t trained_steps) {
             return freeze::UnitNorms{l2, l1, trained_steps};
           }),
           py::arg("l2") = 0.0, py::arg("l1") = 0.0,
           py::arg("trained_steps") = 0)
      .def_readwrite("l2", &freeze::UnitNorms::l2)
      .def_readwrite("l1", &freeze::UnitNorms::l1)
      .def_readwrite("trained_steps", &freeze::UnitNorms::trained_steps);

  py::class_<freeze::RankIntervalStats>(m, "RankIntervalStats")
      .def(py::init<>())
      .def_readwrite("rank", &freeze::RankIntervalStats::rank)
      .def_readwrite("samples", &freeze::RankIntervalStats::samples)
      .def_readwrite("mean_loss", &freeze::RankIntervalStats::mean_loss)
      .def_readwrite("units", &freeze::RankIntervalStats::units)
      .def_readwrite("dot_global", &freeze::RankIntervalStats::dot_global);

  py::class_<freeze::IntervalStats>(m, "IntervalStats")
      .def(py::init<>())
      .def_readwrite("interval", &freeze::IntervalStats::interval)
      .def_readwrite("last_step", &freeze::IntervalStats::last_step)
      .def_readwrite("epoch", &freeze::IntervalStats::epoch)
      .def_readwrite("progress", &freeze::IntervalStats::progress)
      .def_readwrite("units", &freeze::IntervalStats::units)
      .def_readwrite("ranks", &freeze::IntervalStats::ranks);

  m.attr("GLOBAL_RANK") = freeze::kGlobalRank;
  m.def(
      "validate_base_interval_stats",
      [](const freeze::BaseIntervalStats& s, size_t num_units) {
        RaiseIfError(freeze::ValidateBaseIntervalStats(s, num_units));
      },
      py::arg("stats"), py::arg("num_units"),
      "freeze::ValidateBaseIntervalStats: ValueError naming the first "
      "offender.");
  m.def(
      "select_window",
      [](const freeze::BaseIntervalStats& base, int window,
         int64_t policy_interval, int rank) {
        return ValueOrRaise(
            freeze::SelectWindow(base, window, policy_interval, rank));
      },
      py::arg("base"), py::arg("window"), py::arg("policy_interval"),
      py::arg("rank") = freeze::kGlobalRank);
}

void BindWindowNorms(py::module_& m) {
  // Raw data_ptr()s of contiguous float32 tensors (grad_stats.py checks).
  m.def(
      "window_norm_sums",
      [](const std::vector<uintptr_t>& local,
         const std::vector<uintptr_t>& global, int64_t begin, int64_t end,
         bool same) {
        if (local.empty() || local.size() > 16 ||
            (!same && global.size() != local.size()) || begin > end) {
          PyErr_SetString(PyExc_ValueError,
                          "window_norm_sums: 1..16 local buffers, as many "
                          "global ones unless same, begin <= end");
          throw py::error_already_set();
        }
        std::vector<const float*> l, g;
        for (uintptr_t p : local)
          l.push_back(reinterpret_cast<const float*>(p));
        for (uintptr_t p : global)
          g.push_back(reinterpret_cast<const float*>(p));
        freeze::WindowSums s;
        {
          py::gil_scoped_release release;
          s = freeze::WindowNormSums(l, g, begin, end, same);
        }
        return py::make_tuple(s.local_l2, s.local_l1, s.global_l2, s.global_l1,
                              s.dot);
      },
      py::arg("local"), py::arg("global_"), py::arg("begin"), py::arg("end"),
      py::arg("same"),
      "freeze/window_norms.h: (local_l2, local_l1, global_l2, global_l1, "
      "dot) sums for windows 1..k, squared for L2.");
}

// What a policy is built from (freeze/policy.h).
void BindPolicyContext(py::module_& m) {
  py::class_<freeze::PolicyContext>(m, "PolicyContext")
      .def(py::init([](std::vector<freeze::UnitInfo> units, int64_t total_steps,
                       int64_t steps_per_epoch, int base_interval_steps,
                       int max_window, int ranks) {
             freeze::PolicyContext c;
             c.units = std::move(units);
             c.total_steps = total_steps;
             c.steps_per_epoch = steps_per_epoch;
             c.base_interval_steps = base_interval_steps;
             c.max_window = max_window;
             c.ranks = ranks;
             return c;
           }),
           py::arg("units"), py::arg("total_steps") = 0,
           py::arg("steps_per_epoch") = 0, py::arg("base_interval_steps") = 1,
           py::arg("max_window") = 1, py::arg("ranks") = 1)
      .def_readwrite("units", &freeze::PolicyContext::units)
      .def_readwrite("total_steps", &freeze::PolicyContext::total_steps)
      .def_readwrite("steps_per_epoch", &freeze::PolicyContext::steps_per_epoch)
      .def_readwrite("base_interval_steps",
                     &freeze::PolicyContext::base_interval_steps)
      .def_readwrite("max_window", &freeze::PolicyContext::max_window)
      .def_readwrite("ranks", &freeze::PolicyContext::ranks);
}

// Guards and decisions.
void BindDecision(py::module_& m) {
  py::class_<freeze::Guards>(m, "Guards")
      .def(py::init([](int64_t warmup_steps, double max_frozen) {
             return freeze::Guards{warmup_steps, max_frozen};
           }),
           py::arg("warmup_steps") = 0, py::arg("max_frozen") = 1.0)
      .def_readwrite("warmup_steps", &freeze::Guards::warmup_steps)
      .def_readwrite("max_frozen", &freeze::Guards::max_frozen);

  py::class_<freeze::Decision>(m, "Decision")
      .def(py::init([](std::vector<int> freeze, std::vector<int> unfreeze,
                       std::string reason) {
             return freeze::Decision{std::move(freeze), std::move(unfreeze),
                                     std::move(reason)};
           }),
           py::arg("freeze") = std::vector<int>{},
           py::arg("unfreeze") = std::vector<int>{},
           py::arg("reason") = std::string())
      .def_readwrite("freeze", &freeze::Decision::freeze)
      .def_readwrite("unfreeze", &freeze::Decision::unfreeze)
      .def_readwrite("reason", &freeze::Decision::reason)
      .def("empty", &freeze::Decision::empty)
      .def("__repr__", [](const freeze::Decision& d) {
        return py::str("Decision(freeze={}, unfreeze={}, reason={!r})")
            .format(d.freeze, d.unfreeze, d.reason);
      });
}

void BindPolicy(py::module_& m) {
  py::class_<freeze::FreezePolicy>(m, "Policy")
      .def("spec", &freeze::FreezePolicy::spec)
      .def("interval_steps", &freeze::FreezePolicy::interval_steps)
      .def("initial", &freeze::FreezePolicy::Initial)
      .def("decide", &freeze::FreezePolicy::Decide, py::arg("stats"),
           py::arg("frozen"))
      .def("can_unfreeze", &freeze::FreezePolicy::can_unfreeze)
      .def("guards", &freeze::FreezePolicy::guards)
      .def("save_state",
           [](const freeze::FreezePolicy& p) {
             return py::bytes(p.SaveState());
           })
      .def(
          "load_state",
          [](freeze::FreezePolicy& p, const py::bytes& state) {
            RaiseIfError(p.LoadState(std::string(state)));
          },
          py::arg("state"));

  m.def(
      "make_policy",
      [](const std::string& spec, const freeze::PolicyContext& context) {
        return ValueOrRaise(freeze::MakePolicy(spec, context));
      },
      py::arg("spec"), py::arg("context"),
      "freeze::MakePolicy: the policy of `spec`; ValueError with the C++ "
      "message for a bad spec.");
  m.def("policy_names", &freeze::PolicyNames);
  m.def("is_classifier", &freeze::IsClassifier, py::arg("units"),
        py::arg("unit"));
  m.def("apply_guards", &freeze::ApplyGuards, py::arg("guards"),
        py::arg("units"), py::arg("frozen"), py::arg("apply_step"),
        py::arg("keep_prefix"), py::arg("proposal"));
}

// Votes and their rules (freeze/freezer.h).
void BindVotes(py::module_& m) {
  m.def("vote_rule_names", &freeze::VoteRuleNames);
  m.def(
      "check_vote_rule",
      [](const std::string& name) {
        return RuleName(ValueOrRaise(freeze::ParseVoteRule(name)));
      },
      py::arg("name"),
      "The canonical name of vote rule `name`; ValueError if unknown.");

  py::class_<freeze::Vote>(m, "Vote")
      .def(py::init([](int rank, std::vector<int> freeze,
                       std::vector<int> unfreeze, double weight) {
             return freeze::Vote{rank, std::move(freeze), std::move(unfreeze),
                                 weight};
           }),
           py::arg("rank") = 0, py::arg("freeze") = std::vector<int>{},
           py::arg("unfreeze") = std::vector<int>{}, py::arg("weight") = 0.0)
      .def_readwrite("rank", &freeze::Vote::rank)
      .def_readwrite("freeze", &freeze::Vote::freeze)
      .def_readwrite("unfreeze", &freeze::Vote::unfreeze)
      .def_readwrite("weight", &freeze::Vote::weight);

  py::class_<freeze::FreezeDecision>(m, "FreezeDecision")
      .def(py::init<>())
      .def_readwrite("interval", &freeze::FreezeDecision::interval)
      .def_readwrite("apply_step", &freeze::FreezeDecision::apply_step)
      .def_readwrite("epoch", &freeze::FreezeDecision::epoch)
      .def_readwrite("decision", &freeze::FreezeDecision::decision)
      .def_readwrite("votes", &freeze::FreezeDecision::votes);

  m.def(
      "vote_weight",
      [](const std::string& rule, const freeze::BaseIntervalStats& stats,
         int window, int rank, const std::vector<bool>& frozen) {
        return ValueOrRaise(
            freeze::VoteWeight(ValueOrRaise(freeze::ParseVoteRule(rule)), stats,
                               window, rank, frozen));
      },
      py::arg("rule"), py::arg("stats"), py::arg("window"), py::arg("rank"),
      py::arg("frozen"));
  m.def(
      "combine_votes",
      [](const std::string& rule, std::vector<freeze::Vote> votes,
         const std::vector<bool>& frozen) {
        return ValueOrRaise(
            freeze::CombineVotes(ValueOrRaise(freeze::ParseVoteRule(rule)),
                                 std::move(votes), frozen));
      },
      py::arg("rule"), py::arg("votes"), py::arg("frozen"));
}

void BindFreezer(py::module_& m) {
  // The frozen set is a Python list: the methods that change it in C++
  // return the new list beside the decision.
  py::class_<freeze::Freezer>(m, "Freezer")
      .def(py::init([](const std::string& spec, const std::string& rule,
                       const freeze::PolicyContext& context,
                       std::vector<int> owned_ranks) {
             return ValueOrRaise(freeze::Freezer::Create(
                 spec, ValueOrRaise(freeze::ParseVoteRule(rule)), context,
                 std::move(owned_ranks)));
           }),
           py::arg("spec"), py::arg("rule") = "global", py::arg("context"),
           py::arg("owned_ranks") = std::vector<int>{0},
           "freeze::Freezer::Create. `owned_ranks`: {this rank} online, all "
           "ranks offline. ValueError with the C++ message for a bad spec, "
           "rule or context.")
      .def(
          "initial",
          [](freeze::Freezer& f, std::vector<bool> frozen) {
            freeze::FreezeDecision d = f.Initial(frozen);
            return py::make_tuple(d, frozen);
          },
          py::arg("frozen"),
          "(decision, frozen): the decision before the first step and the "
          "frozen set with it applied.")
      .def(
          "on_base_interval",
          [](freeze::Freezer& f, const freeze::BaseIntervalStats& stats,
             std::vector<bool> frozen, const py::object& exchange) {
            std::optional<freeze::FreezeDecision> d = ValueOrRaise(
                f.OnBaseInterval(stats, frozen, WrapExchange(exchange)));
            py::object decision = py::none();
            if (d.has_value()) decision = py::cast(*d);
            return py::make_tuple(decision, frozen);
          },
          py::arg("stats"), py::arg("frozen"), py::arg("exchange") = py::none(),
          "(decision or None, frozen). `exchange(bytes) -> [bytes]` "
          "all-gathers "
          "the votes (EncodeVotes bytes) online for rules other than global.")
      .def("policy_spec",
           [](const freeze::Freezer& f) { return f.policy().spec(); })
      .def("rule", [](const freeze::Freezer& f) { return RuleName(f.rule()); })
      .def("window", &freeze::Freezer::window)
      .def("next_index", &freeze::Freezer::next_index)
      .def("can_unfreeze",
           [](const freeze::Freezer& f) { return f.policy().can_unfreeze(); })
      .def("save_state",
           [](const freeze::Freezer& f) { return py::bytes(f.SaveState()); })
      .def(
          "load_state",
          [](freeze::Freezer& f, const py::bytes& state) {
            RaiseIfError(f.LoadState(std::string(state)));
          },
          py::arg("state"))
      .def(
          "freeze_event",
          [](const freeze::Freezer& f, const freeze::FreezeDecision& d) {
            return Serialize(freeze_trace::ToTraceFreezeEvent(
                d, f.policy().spec(), RuleName(f.rule())));
          },
          py::arg("decision"),
          "The decision as a serialized trace FreezeEvent, as the trainer "
          "records it (freeze_trace::ToTraceFreezeEvent with this Freezer's "
          "canonical spec and rule).");
}

void BindBridge(py::module_& m) {
  m.def(
      "interval_to_trace",
      [](const freeze::BaseIntervalStats& s) {
        return Serialize(freeze_trace::ToTraceInterval(s));
      },
      py::arg("stats"), "freeze_trace::ToTraceInterval, serialized.");
  m.def(
      "interval_from_trace",
      [](const py::bytes& interval, int num_units) {
        return ValueOrRaise(freeze_trace::ToBaseIntervalStats(
            ParseOrRaise<trace::Interval>(interval, "Interval"), num_units));
      },
      py::arg("interval"), py::arg("num_units"),
      "freeze_trace::ToBaseIntervalStats of a serialized trace Interval.");
  m.def(
      "freeze_event_to_trace",
      [](const freeze::FreezeDecision& d, const std::string& policy,
         const std::string& rule) {
        return Serialize(freeze_trace::ToTraceFreezeEvent(d, policy, rule));
      },
      py::arg("decision"), py::arg("policy"), py::arg("rule"));
  m.def(
      "encode_votes",
      [](const std::vector<freeze::Vote>& votes) {
        return py::bytes(freeze_trace::EncodeVotes(votes));
      },
      py::arg("votes"));
  m.def(
      "decode_votes",
      [](const py::bytes& bytes) {
        std::vector<freeze::Vote> out;
        RaiseIfError(freeze_trace::DecodeVotes(std::string(bytes), out));
        return out;
      },
      py::arg("bytes"));
}

// TraceWriter is move-only and returned by StatusOr: held by unique_ptr.
struct PyTraceWriter {
  std::unique_ptr<trace::TraceWriter> writer;

  trace::TraceWriter& get() {
    if (writer == nullptr) {
      PyErr_SetString(PyExc_RuntimeError, "the trace writer is not open");
      throw py::error_already_set();
    }
    return *writer;
  }
};

void BindTrace(py::module_& m) {
  m.attr("SCHEMA_VERSION") = trace::kSchemaVersion;
  m.attr("FORMAT_VERSION") = trace::kFormatVersion;
  m.attr("MAX_RECORD_BYTES") = trace::kMaxRecordBytes;
  m.def(
      "crc32c",
      [](const py::bytes& data) { return base::Crc32c(std::string(data)); },
      py::arg("data"));
  m.def(
      "frame_record",
      [](const py::bytes& payload) {
        std::string out;
        trace::AppendFramedRecord(std::string(payload), &out);
        return py::bytes(out);
      },
      py::arg("payload"),
      "trace_format.h's framing of one record (for tests).");
  m.def("file_header", [] { return py::bytes(trace::EncodeFileHeader()); });

  py::class_<PyTraceWriter>(m, "TraceWriter")
      .def(py::init([](const std::string& path, int sync_every_records,
                       bool sync_on_close) {
             trace::TraceWriterOptions o;
             o.sync_every_records = sync_every_records;
             o.sync_on_close = sync_on_close;
             absl::StatusOr<trace::TraceWriter> w =
                 trace::TraceWriter::Open(path, o);
             // Every failure to open is the file system's: an OSError (a
             // folder named like the file, a full disk) unless it has a
             // more precise kind.
             if (!w.ok() &&
                 w.status().code() == absl::StatusCode::kFailedPrecondition) {
               PyErr_SetString(PyExc_OSError,
                               std::string(w.status().message()).c_str());
               throw py::error_already_set();
             }
             RaiseIfError(w.status());
             return PyTraceWriter{
                 std::make_unique<trace::TraceWriter>(*std::move(w))};
           }),
           py::arg("path"), py::arg("sync_every_records") = 0,
           py::arg("sync_on_close") = true,
           "trace::TraceWriter::Open: creates or truncates `path` and writes "
           "the file header.")
      .def(
          "write",
          [](PyTraceWriter& w, const py::bytes& record) {
            RaiseIfError(w.get().Write(
                ParseOrRaise<trace::TraceRecord>(record, "TraceRecord")));
          },
          py::arg("record"),
          "Writes one serialized TraceRecord (one framed write()); the order "
          "rules of TraceWriter::Write apply.")
      .def(
          "write_interval",
          [](PyTraceWriter& w, const freeze::BaseIntervalStats& s) {
            trace::TraceRecord r;
            *r.mutable_interval() = freeze_trace::ToTraceInterval(s);
            RaiseIfError(w.get().Write(r));
          },
          py::arg("stats"),
          "Writes `stats` as an Interval record "
          "(freeze_trace::ToTraceInterval).")
      .def("sync", [](PyTraceWriter& w) { RaiseIfError(w.get().Sync()); })
      .def("close",
           [](PyTraceWriter& w) {
             if (w.writer != nullptr) RaiseIfError(w.writer->Close());
           })
      .def_property_readonly("path",
                             [](PyTraceWriter& w) { return w.get().path(); })
      .def_property_readonly(
          "records_written",
          [](PyTraceWriter& w) { return w.get().records_written(); })
      .def_property_readonly("bytes_written", [](PyTraceWriter& w) {
        return w.get().bytes_written();
      });
}

}  // namespace
}  // namespace freezing::pytorch

PYBIND11_MODULE(_freezing, m) {
  using namespace freezing::pytorch;  // NOLINT: the Bind* functions
  m.doc() =
      "The project's freeze/ policies, freeze_trace/ conversions and trace/ "
      "writer for PyTorch jobs (pytorch/README.md).";
  BindWindowStats(m);
  BindIntervalStats(m);
  BindWindowNorms(m);
  BindPolicyContext(m);
  BindDecision(m);
  BindPolicy(m);
  BindVotes(m);
  BindFreezer(m);
  BindBridge(m);
  BindTrace(m);
}
