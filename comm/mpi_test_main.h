// The main of the project's real multi-rank MPI tests (link :mpi_test_main
// instead of gtest_main). Started by `bazel test` as one process, the test
// relaunches itself under `mpiexec -n $FREEZING_TEST_RANKS` (default 2) with
// a hard time limit (MPIEXEC_TIMEOUT, from Bazel's TEST_TIMEOUT), so a
// regression that hangs fails instead of blocking CI. Every rank runs every
// test; rank 0 prints the usual output and writes the XML report, the others
// print only their failures, prefixed with their rank. The exit code is
// non-zero when any rank failed. A missing mpiexec fails the test.
#ifndef FREEZING_COMM_MPI_TEST_MAIN_H_
#define FREEZING_COMM_MPI_TEST_MAIN_H_

#include "comm/communicator.h"
#include "comm/mpi_session.h"

namespace freezing::comm::testing {

// Session: this rank's MPI session (initialized with MPI_THREAD_MULTIPLE).
MpiSession& Session();

// World: all ranks of the test job.
inline Communicator& World() { return Session().world(); }

}  // namespace freezing::comm::testing

#endif  // FREEZING_COMM_MPI_TEST_MAIN_H_
