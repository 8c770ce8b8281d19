// A small, deterministic text encoding for policy and Freezer state
// (checkpoints).
//
// A state is a sequence of lines `key value...`; doubles are written as the
// 16 hex digits of their IEEE-754 bit pattern, so that a checkpoint restores
// exactly the doubles that were saved (NaN and -0 included) and two saves of
// the same state are byte-identical. Nested states (a Freezer holds one per
// policy instance) are length-prefixed blobs. Reading is strict: keys must
// come in the order they were written, and any deviation is a DataLoss error
// that names the line and what was expected.
#ifndef FREEZING_FREEZE_STATE_CODEC_H_
#define FREEZING_FREEZE_STATE_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace freezing::freeze {

// StateWriter: appends lines to a state string.
class StateWriter {
 public:
  // `values` must not contain whitespace.
  void Add(absl::string_view key, absl::string_view value);
  void AddInt(absl::string_view key, int64_t value);
  void AddDouble(absl::string_view key, double value);
  void AddInts(absl::string_view key, const std::vector<int64_t>& values);
  void AddDoubles(absl::string_view key, const std::vector<double>& values);
  void AddBools(absl::string_view key, const std::vector<bool>& values);
  // Any bytes, length-prefixed.
  void AddBlob(absl::string_view key, absl::string_view blob);

  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

// StateReader: reads back what StateWriter wrote, in the same order.
// `what` names the state in errors ("gradnorm state").
class StateReader {
 public:
  StateReader(absl::string_view state, std::string what)
      : in_(state), what_(std::move(what)) {}

  absl::StatusOr<std::string> Get(absl::string_view key);
  absl::StatusOr<int64_t> GetInt(absl::string_view key);
  absl::StatusOr<double> GetDouble(absl::string_view key);
  // Vectors carry their length; `size` checks it (-1: any length).
  absl::StatusOr<std::vector<int64_t>> GetInts(absl::string_view key,
                                               int64_t size = -1);
  absl::StatusOr<std::vector<double>> GetDoubles(absl::string_view key,
                                                 int64_t size = -1);
  absl::StatusOr<std::vector<bool>> GetBools(absl::string_view key,
                                             int64_t size = -1);
  absl::StatusOr<std::string> GetBlob(absl::string_view key);
  // Error unless everything was read.
  absl::Status ExpectEnd();

 private:
  // The words of the next line, whose first word must be `key`.
  absl::StatusOr<std::vector<absl::string_view>> Line(absl::string_view key);
  absl::Status Error(absl::string_view message) const;
  absl::StatusOr<std::vector<absl::string_view>> Vector(absl::string_view key,
                                                        int64_t size);

  absl::string_view in_;
  std::string what_;
  size_t pos_ = 0;
  int line_ = 0;
};

// Exact text form of a double (bit pattern), and back.
std::string EncodeDouble(double value);
bool DecodeDouble(absl::string_view text, double* value);

}  // namespace freezing::freeze

#endif  // FREEZING_FREEZE_STATE_CODEC_H_
