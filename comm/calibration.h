// Calibration of an all-reduce network model: what an all-reduce costs under
// the algorithm the MPI library runs (AllReduceTermsOf), the least-squares fit
// of its latency alpha and inverse bandwidth beta to measured times, and the
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

// AllReduceAlgorithm: how the bytes of an all-reduce travel.
enum class AllReduceAlgorithm {
  // Reduce-scatter then all-gather around a ring (NCCL; MPICH's tsp_ring
  // when pinned): 2(p-1) steps moving 2(p-1)/p·n bytes per rank.
  kRing,
  // What MPICH 4.0 (src/mpi/coll/allreduce/, the built-in selection of
  // maint/tuning/coll/mpir/generic.json) runs for a sum of floats between
  // hosts: Rabenseifner's reduce-scatter (recursive halving) + all-gather
  // (recursive doubling) over p' = the largest power of two <= p; when
  // p > p', first p - p' ranks send their whole vector to a neighbour and
  // get the whole result back at the end (+2 steps, +2·n bytes). Small
  // messages (total bytes <= 8 blocking, <= 2048 non-blocking, or fewer
  // elements than p') use recursive doubling: log2(p') + 2[p > p'] steps of
  // the whole vector. The local reductions cost per byte in proportion to
  // the bytes moved (half of them, at every p), so they are part of beta.
  kMpich,
};

// AllReduceTerms: T(n) = alpha_steps·alpha + byte_factor·n·beta.
struct AllReduceTerms {
  double alpha_steps = 0;
  double byte_factor = 0;
};

// AllReduceTermsOf: the terms of an all-reduce of `bytes` (of float32) over
// `world_size` ranks; zeros for one rank or no bytes. `nonblocking` picks
// MPI_Iallreduce's small-message threshold.
AllReduceTerms AllReduceTermsOf(AllReduceAlgorithm algorithm, int world_size,
                                int64_t bytes, bool nonblocking);

// ParseAllReduceAlgorithm: "ring" or "mpich" ("" reads as "ring": files
// written before algorithms were recorded). AllReduceAlgorithmName: back.
absl::StatusOr<AllReduceAlgorithm> ParseAllReduceAlgorithm(
    const std::string& text);
const char* AllReduceAlgorithmName(AllReduceAlgorithm algorithm);

// ParseFitMethod: "hybrid", "absolute" or "relative".
absl::StatusOr<FitMethod> ParseFitMethod(const std::string& text);
const char* FitMethodName(FitMethod method);

// What FitAllReduceModel fits: the algorithm's terms, and the operation the
// points timed ("allreduce" or "iallreduce").
struct ModelChoice {
  AllReduceAlgorithm algorithm = AllReduceAlgorithm::kMpich;
  bool nonblocking = false;
};

// FitAllReduceModel: fits alpha and beta (both kept >= 0) of `model` to
// `points` (their median_s) for `world_size` ranks by `method`; returns a
// Calibration with world_size, alpha_s, beta_s_per_byte, r_squared,
// max_relative_error, fit, algorithm, operation and the points.
// InvalidArgument for world_size < 2, fewer than two distinct sizes, or
// non-positive times.
absl::StatusOr<Calibration> FitAllReduceModel(
    const std::vector<CalibrationPoint>& points, int world_size,
    FitMethod method, ModelChoice model);

// FitRingModel: FitAllReduceModel with the ring, blocking.
absl::StatusOr<Calibration> FitRingModel(
    const std::vector<CalibrationPoint>& points, int world_size,
    FitMethod method);

// AllReduceSeconds: the calibration's time for an all-reduce of `bytes` over
// `world_size` ranks (0: the calibration's own) under its algorithm and
// operation.
double AllReduceSeconds(const Calibration& calibration, int64_t bytes,
                        int world_size = 0);

// RingAllReduceSeconds: AllReduceSeconds at the calibration's world size.
inline double RingAllReduceSeconds(const Calibration& calibration,
                                   int64_t bytes) {
  return AllReduceSeconds(calibration, bytes);
}

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

// ReadCalibration: the first calibration of a file (ReadCalibrations); it
// parses and validates a calibration file, in either
// naming, with integers as numbers or strings (protobuf's JSON parser reads
// both): NotFound when it cannot be opened, DataLoss when it is not a
// Calibration in JSON, InvalidArgument when its values are impossible
// (world_size < 2, negative alpha or beta, no bandwidth term).
absl::StatusOr<Calibration> ReadCalibration(const std::string& path);

// ReadCalibrations: every calibration of a file, which holds one Calibration
// or a CalibrationSet; each validated as ReadCalibration does, and the
// algorithm and operation names checked. WriteCalibrations: a set.
absl::StatusOr<std::vector<Calibration>> ReadCalibrations(
    const std::string& path);
absl::Status WriteCalibrations(const std::vector<Calibration>& calibrations,
                               const std::string& path);

}  // namespace freezing::comm

#endif  // FREEZING_COMM_CALIBRATION_H_
