"""The run harness of benchmarks/: how compare_pytorch.py and every experiment
(benchmarks/experiments/) run the project's binaries and measure around them.

- where things are: REPO (the checkout, also under `bazel run`), user paths;
- the binaries: `bazel build` once and copies into OUT/bin (so that rebuilds
  by others during a long run change nothing), or the paths given by the
  Bazel wrappers;
- running one command: in its own process group, with a timeout and a log
  file, killed on interrupt; the load of the machine before and after
  (/proc/loadavg) and during (cores other processes kept busy: machine busy
  time minus the command's own rusage); a run that finished its work and
  then hung or failed at exit is kept with a warning, any other failure
  raises RunFailed;
- signals: SIGTERM, SIGINT and SIGHUP unwind through run_command, so no job
  is left behind;
- the machine: CPU, cores, load, waiting for other processes to go quiet;
- reading the project's outputs: a trace as JSON (//benchmarks:trace_json)
  and the simulator's predictions (//replay's replay.json).

Run with Debian's python (/usr/bin/python3), as `python3 -m benchmarks.X`
from the checkout or through the Bazel wrappers, which put the runfiles root
on PYTHONPATH.
"""

import datetime
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

BENCHMARKS = os.path.dirname(os.path.abspath(__file__))
# Under `bazel run` the modules live in the runfiles; outputs, git and bazel
# need the checkout.
REPO = os.environ.get("BUILD_WORKSPACE_DIRECTORY", os.path.dirname(BENCHMARKS))
# The user's folder under `bazel run` (relative paths are taken from there).
USER_DIR = os.environ.get("BUILD_WORKING_DIRECTORY", os.getcwd())


def log(msg):
  print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", flush=True)


def user_path(p):
  return p if not p or os.path.isabs(p) else os.path.join(USER_DIR, p)


def median(xs):
  xs = list(xs)
  return statistics.median(xs) if xs else float("nan")


def i64(x):
  """A 64-bit integer of protobuf's JSON mapping (a string), or 0."""
  return int(x) if x not in (None, "") else 0


# --------------------------------------------------------------------------
# Machine and load.


def loadavg():
  with open("/proc/loadavg") as f:
    return [float(x) for x in f.read().split()[:3]]


def cpu_busy_s():
  """Seconds of CPU time the whole machine has spent busy (all cores)."""
  with open("/proc/stat") as f:
    fields = [int(x) for x in f.readline().split()[1:]]
  busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + \
      (fields[7] if len(fields) > 7 else 0)
  return busy / os.sysconf("SC_CLK_TCK")


def others_busy_cores(seconds):
  """Cores kept busy by other processes over the next `seconds`."""
  b0, t0 = cpu_busy_s(), time.time()
  time.sleep(seconds)
  return (cpu_busy_s() - b0) / (time.time() - t0)


def wait_for_quiet(max_wait_s, threshold_cores):
  """Waits (at most max_wait_s) until other processes use < threshold cores;
  returns the last measured load and the time waited."""
  start = time.time()
  load = others_busy_cores(1.0)
  while load >= threshold_cores and time.time() - start < max_wait_s:
    load = others_busy_cores(2.0)
  return load, time.time() - start


def machine_info():
  cpu = "unknown"
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          cpu = line.split(":", 1)[1].strip()
          break
  except OSError:
    pass
  mem_gib = 0.0
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemTotal"):
          mem_gib = int(line.split()[1]) / 2**20
  except OSError:
    pass
  return {
      "host": platform.node(),
      "cores": len(os.sched_getaffinity(0)),
      "cpu": cpu,
      "memory_gib": round(mem_gib, 1),
      "kernel": platform.release(),
      "python": sys.version.split()[0],
  }


def git_revision():
  r = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                     capture_output=True, text=True)
  return r.stdout.strip() or "unknown"


# --------------------------------------------------------------------------
# Binaries.


# name: (Bazel target, path under bazel-bin)
BAZEL_TARGETS = {
    "train": ("//train", "train/train"),
    "replay": ("//replay", "replay/replay"),
    "trace_json": ("//benchmarks:trace_json", "benchmarks/trace_json"),
    "calibrate": ("//comm:calibrate", "comm/calibrate"),
    "cluster": ("//comm:cluster", "comm/cluster"),
}


def add_binary_flags(parser, names):
  """--NAME_bin for each binary in `names` (the Bazel wrappers give them)."""
  for n in names:
    parser.add_argument(f"--{n}_bin", default="",
                        help=f"the {BAZEL_TARGETS[n][0]} binary (default: "
                        "bazel build and copy into OUT/bin)")


def given_binaries(args, names):
  """{name: its --NAME_bin, '' when not given}, for prepare_binaries."""
  return {n: getattr(args, f"{n}_bin", "") for n in names}


def prepare_binaries(bin_dir, given):
  """Copies the binaries named in `given` ({name: path, or '' to build it})
  into bin_dir; builds the ones without a path with bazel (in one command).
  Returns {name: the copy}."""
  os.makedirs(bin_dir, exist_ok=True)
  missing = [n for n, path in given.items() if not path]
  if missing:
    targets = [BAZEL_TARGETS[n][0] for n in missing]
    log("bazel build " + " ".join(targets))
    subprocess.run(["bazel", "build"] + targets, cwd=REPO, check=True)
  bins = {}
  for n, path in given.items():
    src = path or os.path.join(REPO, "bazel-bin", BAZEL_TARGETS[n][1])
    dst = os.path.join(bin_dir, n)
    # The same file when --resume reuses OUT/bin.
    if os.path.realpath(src) != os.path.realpath(dst):
      shutil.copy2(os.path.realpath(src), dst)
      os.chmod(dst, 0o755)
    bins[n] = dst
  return bins


# --------------------------------------------------------------------------
# Signals.


def _exit_on_signal(signum, frame):
  # SystemExit unwinds through run_command, which kills the job's process
  # group (no trainer or baseline is left behind), and through every
  # `finally` (the tc qdisc of experiment 5).
  raise SystemExit(128 + signum)


def install_signal_handlers():
  for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, _exit_on_signal)


# --------------------------------------------------------------------------
# Running a command and measuring the load around it.


class RunFailed(RuntimeError):
  pass


# What the trainer prints on rank 0 after every output is written and closed.
FINISHED_MARK = "outputs in "


def finished_before_failing(log_path, done_file, t0):
  """True when a failed command had finished its work: `done_file` was written
  during this run and the log has the trainer's last line. Seen once (CI,
  2026-11-25): a 2-rank run over UCX's TCP transport under load printed its
  last line, then hung at exit (in MPI_Finalize, a known class of UCX/MPICH
  bugs) until mpiexec's timeout killed it with exit 255."""
  if not done_file or not os.path.exists(done_file):
    return False
  if os.path.getmtime(done_file) < t0:
    return False
  with open(log_path) as f:
    return any(line.startswith(FINISHED_MARK) for line in f)


def command_text(cmd, env=None):
  """`cmd` as one shell line, preceded by its extra environment."""
  env_text = " ".join(f"{k}={v}" for k, v in sorted((env or {}).items()))
  return (env_text + " " if env_text else "") + " ".join(cmd)


def run_command(cmd, log_path, timeout_s, env=None, done_file=None):
  """Runs `cmd` in its own process group (killed on timeout or interrupt).

  Returns a dict with wall_s, loadavg before/after and others_busy_cores:
  the cores other processes kept busy meanwhile (the machine's busy CPU time
  minus this command's whole process tree, from RUSAGE_CHILDREN).
  A command that fails or times out after it finished its work (see
  finished_before_failing; `done_file`: its last output) is kept with a
  warning and `exit_status`/`hung_at_exit` in the dict: its timings come from
  its trace, which was complete. Any other failure raises RunFailed.
  """
  ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
  load0 = loadavg()
  busy0, t0 = cpu_busy_s(), time.time()
  full_env = dict(os.environ)
  # The trainer's --ranks relaunch runs mpiexec from PATH.
  full_env.update(env or {})
  with open(log_path, "w") as logf:
    logf.write(" ".join(cmd) + "\n")
    logf.flush()
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                            start_new_session=True, env=full_env)
    try:
      rc = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
      os.killpg(proc.pid, signal.SIGKILL)
      proc.wait()
      if not finished_before_failing(log_path, done_file, t0):
        raise RunFailed(f"timed out after {timeout_s} s: {' '.join(cmd)}")
      rc = "timeout"
    except BaseException:
      os.killpg(proc.pid, signal.SIGKILL)
      proc.wait()
      raise
  wall = time.time() - t0
  ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
  own = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
  others = max(0.0, (cpu_busy_s() - busy0 - own) / wall) if wall > 0 else 0.0
  meas = {"wall_s": wall, "loadavg_before": load0, "loadavg_after": loadavg(),
          "others_busy_cores": others, "own_cpu_s": own}
  if rc != 0:
    with open(log_path) as f:
      tail = f.read()[-3000:]
    if not finished_before_failing(log_path, done_file, t0):
      raise RunFailed(f"exit {rc}: {' '.join(cmd)}\n{tail}")
    log(f"WARNING: {os.path.basename(os.path.dirname(log_path))}: finished "
        f"its work ({os.path.basename(done_file)} written, last line "
        f"printed) but then failed ({rc}) after {wall:.0f} s, probably hung at "
        f"exit in MPI; kept (timings come from its trace); log: {log_path}")
    meas.update(exit_status=rc, hung_at_exit=True)
  return meas


# What a rank prints when it leaves without MPI_Finalize, which hung
# (comm/mpi_session.h: MPICH 4.0.2's hang at exit over UCX's TCP): its work
# is done, but the job's exit status says it failed.
EXIT_HANG_MARK = "MPI_Finalize has not returned"


def run_command_retrying_exit_hang(cmd, log_path, timeout_s, env=None,
                                   tries=3):
  """run_command for a job whose work cannot be kept after a hang at exit
  (comm:calibrate --world_sizes: the parent writes the file only when every
  job succeeded): runs it again, up to `tries` times in all, as long as it
  fails with that hang in its log. Earlier logs are kept as LOG.tryN; the
  result has `attempts`."""
  for attempt in range(1, tries + 1):
    try:
      return dict(run_command(cmd, log_path, timeout_s, env=env),
                  attempts=attempt)
    except RunFailed:
      with open(log_path) as f:
        hung = EXIT_HANG_MARK in f.read()
      if not hung or attempt == tries:
        raise
      os.replace(log_path, f"{log_path}.try{attempt}")
      log(f"WARNING: {os.path.basename(log_path)}: failed at MPI's exit "
          "(MPI_Finalize hung, comm/mpi_session.h); running it again "
          f"({attempt + 1}/{tries})")


# --------------------------------------------------------------------------
# The project's outputs.


def trace_json(trace_json_bin, path):
  """The trace at `path` as //benchmarks:trace_json prints it: header,
  profile, steps, epochs, footer (field names of trace/trace.proto, 64-bit
  integers as strings: see i64)."""
  res = subprocess.run([trace_json_bin, path], capture_output=True, text=True,
                       check=True)
  return json.loads(res.stdout)


def seconds(obj, *names):
  """{NAME_s: obj[NAME_ns] in seconds} for each of `names`, in their order
  (a trace's phases, epochs)."""
  return {f"{n}_s": i64(obj[f"{n}_ns"]) * 1e-9 for n in names}


def trace_units(trace):
  """A trace's units (of trace_json): [{name, params}] in forward order."""
  return [{"name": u["name"], "params": i64(u["params"])}
          for u in trace["header"]["units"]]


def replay(replay_bin, out_dir, trace, policies, network=None,
           world_sizes=None, cache=False, validate=False, extra=()):
  """Asks the simulator: runs //replay on `trace` for `policies` (on
  `network` and `world_sizes`, replay's defaults when None; `extra`: more
  flags, e.g. --scaling=same_steps) into out_dir.

  Returns (replay.json as a dict, the command as one line); replay's output
  goes to out_dir/log.txt, and a failure raises RunFailed with it.
  """
  os.makedirs(out_dir, exist_ok=True)
  cmd = [replay_bin, f"--trace={trace}", f"--policies={';'.join(policies)}"]
  if network is not None:
    cmd.append(f"--network={network}")
  if world_sizes is not None:
    cmd.append(f"--world_size={world_sizes}")
  cmd.append(f"--out={out_dir}")
  if cache:
    cmd.append("--cache")
  if validate:
    cmd.append("--validate")
  cmd.extend(extra)
  log_path = os.path.join(out_dir, "log.txt")
  with open(log_path, "w") as f:
    r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
  if r.returncode != 0:
    with open(log_path) as f:
      raise RunFailed(f"replay failed: {' '.join(cmd)}\n{f.read()}")
  with open(os.path.join(out_dir, "replay.json")) as f:
    return json.load(f), " ".join(cmd)
