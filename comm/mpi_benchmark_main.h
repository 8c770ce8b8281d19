// The main of the project's multi-rank Google Benchmarks (link
// :mpi_benchmark_main instead of benchmark_main). `--ranks=N` (default 2)
// relaunches the binary under mpiexec (`--cluster`: on the emulated
// cluster's hosts, comm/launcher.h); every rank runs every benchmark with
// the same iteration counts, rank 0 reports (console, --benchmark_out).
//
// Collective timings must be the same on every rank, or ranks would choose
// different iteration counts and deadlock: report MaxOverRanks(seconds) with
// state.SetIterationTime (UseManualTime).
#ifndef FREEZING_COMM_MPI_BENCHMARK_MAIN_H_
#define FREEZING_COMM_MPI_BENCHMARK_MAIN_H_

#include "comm/communicator.h"
#include "comm/mpi_session.h"

namespace freezing::comm::benchmarking {

// Session: this rank's MPI session (MPI_THREAD_MULTIPLE requested).
MpiSession& Session();
inline Communicator& World() { return Session().world(); }

// MaxOverRanks: the largest `value` of all ranks (a collective); aborts the
// job on an MPI error (a benchmark cannot return a status).
double MaxOverRanks(double value);

}  // namespace freezing::comm::benchmarking

#endif  // FREEZING_COMM_MPI_BENCHMARK_MAIN_H_
