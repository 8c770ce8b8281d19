// Calibration of the ring all-reduce model: the least-squares fit of
// T(n) = 2(p-1)·alpha + 2(p-1)/p·n·beta to measured all-reduce times, and the
// calibration file (JSON of comm/calibration.proto) that `comm:calibrate`
// writes and the simulator reads. Pure: no MPI, no libtorch.
#ifndef FREEZING_COMM_CALIBRATION_H_
#define FREEZING_COMM_CALIBRATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "comm/calibration.pb.h"

namespace freezing::comm {

enum class FitMethod {
  // The default: alpha from the relative fit (small, latency-bound messages
  // decide it), then beta by ordinary least squares on the times with that
  // alpha (large messages, the buckets that dominate a training step, decide
  // it). Both terms come out physical, and R² is close to the absolute fit's.
  kHybrid,
  // Ordinary least squares on times: the largest messages weigh most; the
  // intercept, and so alpha, is at the mercy of their noise.
  kAbsolute,
  // Least squares on relative errors (weights 1/T²): every size counts
  // alike, which fits small messages well but large ones poorly when the
  // per-byte cost is not constant (on one host, out of cache): low R².
  kRelative,
};

// ParseFitMethod: "hybrid", "absolute" or "relative".
absl::StatusOr<FitMethod> ParseFitMethod(const std::string& text);
const char* FitMethodName(FitMethod method);

// FitRingModel: fits alpha and beta (both kept >= 0) to `points` (their
// median_s) for `world_size` ranks by `method`; returns a Calibration with
// world_size, alpha_s, beta_s_per_byte, r_squared, max_relative_error, fit and
// the points. InvalidArgument for world_size < 2, fewer than two distinct
// sizes, or non-positive times.
absl::StatusOr<Calibration> FitRingModel(
    const std::vector<CalibrationPoint>& points, int world_size,
    FitMethod method);

// RingAllReduceSeconds: the model's time for an all-reduce of `bytes` over
// `calibration.world_size()` ranks.
double RingAllReduceSeconds(const Calibration& calibration, int64_t bytes);

// WriteCalibration: `calibration` as JSON to `path`, durably
// (base::WriteFileAtomically), by base::ProtoToJson: the .proto's snake_case
// field names, 64-bit integers as numbers, every field printed:
//   {
//     "world_size": 2,
//     "alpha_s": 8.674249234290121e-06,
//     "beta_s_per_byte": 1.6343353680065952e-09,
//     ...
//     "points": [
//       {
//         "bytes": 4096,
//         "median_s": 2.2904e-05,
//         ...
// Files written before (protobuf's printer: lowerCamelCase names such as
// "worldSize" and "betaSPerByte", 64-bit integers as strings) are still
// read by ReadCalibration.
absl::Status WriteCalibration(const Calibration& calibration,
                              const std::string& path);

// ReadCalibration: parses and validates a calibration file, in either
// naming, with integers as numbers or strings (protobuf's JSON parser reads
// both): NotFound when it cannot be opened, DataLoss when it is not a
// Calibration in JSON, InvalidArgument when its values are impossible
// (world_size < 2, negative alpha or beta, no bandwidth term).
absl::StatusOr<Calibration> ReadCalibration(const std::string& path);

}  // namespace freezing::comm

#endif  // FREEZING_COMM_CALIBRATION_H_
