"""The dependency arrows of DESIGN.md, as Bazel visibility lists.

    train  --> freeze, comm, trace, freeze_trace
    sim    --> freeze, trace, freeze_trace, and comm's pure targets
               (BucketPlan, calibration)
    replay --> sim, freeze, trace
    benchmarks --> anything;  nothing depends on benchmarks
    pytorch --> freeze, trace, freeze_trace (a pybind11 extension; no
                libtorch in C++: the Python side imports torch); runs
                //replay and //trace:trace_tool in its tests
    freeze, trace: depend on no other folder of the project (base aside)
    freeze_trace (the bridge): freeze and trace only
    comm: MPI and libtorch only
    libtorch: train, comm, benchmarks; MPI: comm only

Each folder's public targets use the list of the folders allowed to use it;
everything else stays private to its package. A dependency against an arrow
fails at analysis time.
"""

# Who may use freeze/ and trace/.
FREEZE_USERS = [
    "//freeze_trace:__subpackages__",
    "//train:__subpackages__",
    "//sim:__subpackages__",
    "//replay:__subpackages__",
    "//benchmarks:__subpackages__",
    "//pytorch:__subpackages__",
]

TRACE_USERS = FREEZE_USERS + [
    # Recorded traces are regenerated and checked there.
    "//testdata:__subpackages__",
]

# Who may use comm/'s MPI and libtorch targets.
COMM_USERS = [
    "//train:__subpackages__",
    "//benchmarks:__subpackages__",
]

# Who may use comm/'s pure targets (no MPI, no libtorch).
COMM_PURE_USERS = COMM_USERS + [
    "//sim:__subpackages__",
]

# Who may use train/'s libraries (its binary is run, not linked).
TRAIN_USERS = [
    "//benchmarks:__subpackages__",
    "//testdata:__subpackages__",
]

SIM_USERS = [
    "//replay:__subpackages__",
    "//benchmarks:__subpackages__",
]

REPLAY_USERS = [
    "//benchmarks:__subpackages__",
    "//testdata:__subpackages__",
    # Runs //replay and :check_recorded_policy on PyTorch traces (tests and
    # validation); links nothing of replay/.
    "//pytorch:__subpackages__",
]

# Who may use the freeze <-> trace bridge.
FREEZE_TRACE_USERS = [
    "//train:__subpackages__",
    "//sim:__subpackages__",
    "//replay:__subpackages__",
    "//benchmarks:__subpackages__",
    # The PyTorch recorder writes intervals and freeze events through it.
    "//pytorch:__subpackages__",
]

# Who may link libtorch (//third_party:torch) and MPI (//third_party:mpi).
TORCH_USERS = [
    "//train:__subpackages__",
    "//comm:__subpackages__",
    "//benchmarks:__subpackages__",
]

MPI_USERS = [
    "//comm:__subpackages__",
]
