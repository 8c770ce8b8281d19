// Checks of GradientReducer shared by reducer_test (ranks as threads over
// FakeCommunicator) and reducer_mpi_test (real ranks over MPI). Each check
// runs on one rank with that rank's communicator and reports with EXPECT_*.
#ifndef FREEZING_COMM_REDUCER_TEST_UTIL_H_
#define FREEZING_COMM_REDUCER_TEST_UTIL_H_

#include "comm/communicator.h"
#include "comm/progress_mode.h"

namespace freezing::comm::testing {

// Gradients of a small model with odd-sized tensors in several buckets end
// up averaged over ranks in param.grad(), in every progress mode; the
// observer sees each rank's local gradients; buckets start during backward.
void CheckAveraging(Communicator& comm, ProgressMode mode);

// Frozen tensors are not planned, not reduced, and their bytes never travel
// (the communicator's byte count is exactly the trainable bytes); freezing
// and unfreezing between steps rebuilds the plan.
void CheckFrozenBytesNeverTravel(Communicator& comm, ProgressMode mode);

// Ranks that freeze different tensors fail with FailedPrecondition naming
// both fingerprints and the ranks, instead of hanging.
void CheckPlanMismatchFails(Communicator& comm);

// A trainable parameter that gets no gradient is counted and its bucket is
// still reduced; a gradient the caller left before BeginStep is kept.
void CheckMissingAndKeptGradients(Communicator& comm, ProgressMode mode);

// BroadcastTensors copies root's tensors of every type into every rank's.
void CheckBroadcastTensors(Communicator& comm);

}  // namespace freezing::comm::testing

#endif  // FREEZING_COMM_REDUCER_TEST_UTIL_H_
