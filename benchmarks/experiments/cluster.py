"""An emulated cluster for the experiments that run on one (5 and 9):
several hosts on this machine, each a network namespace with its own shaped
link (comm/README.md, "Several hosts on one machine";
`bazel run //comm:cluster -- up|down`).

An experiment brings up a cluster under a name of its own (never the user's
`h`, nor one that is already up: that is refused, naming the `down` that
frees it), runs its jobs on it with FREEZING_CLUSTER=NAME in their
environment (`--cluster` reads it), and brings it down when the block ends,
whatever ended it (an error, an interrupt: harness.install_signal_handlers
turns SIGTERM/SIGINT/SIGHUP into SystemExit, which unwinds through here);
then it checks that nothing is left (namespaces, links, /etc/hosts lines,
state), as comm/cluster_test.sh does.

Needs root, `ip`, `tc` and `unshare`; `Unavailable` says which is missing.
"""

import contextlib
import json
import os
import re
import shutil
import subprocess

from benchmarks import harness

STATE_ROOT = "/run/freezing-cluster"
ENV = "FREEZING_CLUSTER"
# comm/cluster_spec.h, ValidateClusterName.
NAME_RE = re.compile(r"^[a-z]([a-z0-9]{0,7}[a-z])?$")
# tc's bit units (comm/cluster_spec.h, ParseRate).
RATE_UNITS = {"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12}


class Unavailable(Exception):
  """No emulated cluster can be made here (not root, tools missing)."""


def check_available():
  if os.geteuid() != 0:
    raise Unavailable(
        "an emulated cluster needs root (network namespaces, links, qdiscs, "
        "/etc/hosts): run the experiment as root")
  for tool in ("ip", "tc", "unshare"):
    if not shutil.which(tool):
      raise Unavailable(f"an emulated cluster needs `{tool}` (iproute2, "
                        "util-linux), which is not installed")


def check_name(name):
  if not NAME_RE.match(name):
    raise SystemExit(f"--cluster_name={name!r}: 1-9 lowercase letters and "
                     "digits, starting and ending with a letter")
  return name


def rate_bits(rate):
  """'250mbit' -> 2.5e8 (bits per second)."""
  m = re.fullmatch(r"([0-9.]+)([a-z]+)", rate.strip())
  if not m or m.group(2) not in RATE_UNITS:
    raise SystemExit(f"rate {rate!r}: a number with a tc bit unit "
                     f"({', '.join(RATE_UNITS)}), e.g. 1gbit or 250mbit")
  return float(m.group(1)) * RATE_UNITS[m.group(2)]


def env(name):
  """The environment of a job on cluster `name`."""
  return {ENV: name}


def leftovers(name):
  """What of cluster `name` exists: namespaces, links, /etc/hosts lines,
  state (empty when nothing)."""
  found = []
  ns = subprocess.run(["ip", "netns", "list"], capture_output=True,
                      text=True).stdout
  found += [l for l in ns.splitlines()
            if re.match(rf"^{name}[0-9]+( |$)", l)]
  links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True,
                         text=True).stdout
  found += [l for l in links.splitlines()
            if re.search(rf": (veth{name}[0-9]+|br-{name})[@:]", l)]
  with open("/etc/hosts") as f:
    found += [l.rstrip() for l in f
              if l.rstrip().endswith(f"# freezing-cluster {name}")]
  if os.path.exists(os.path.join(STATE_ROOT, name)):
    found.append(os.path.join(STATE_ROOT, name))
  return found


@contextlib.contextmanager
def cluster_up(cluster_bin, name, hosts, rate, log_dir, timeout_s=300):
  """Cluster `name` of `hosts` hosts at `rate` (one tc rate, or one per host
  separated by commas) for the duration of the block; yields
  {name, hosts, rate, env, up_command, status} (status: what `up` printed:
  hosts, addresses, rates read back from tc)."""
  check_available()
  check_name(name)
  if os.path.exists(os.path.join(STATE_ROOT, name)):
    raise harness.RunFailed(
        f"a cluster named {name} is up already, and not this experiment's "
        f"to reuse or remove: `FREEZING_CLUSTER={name} bazel run "
        "//comm:cluster -- down` frees the name, or give another with "
        "--cluster_name")
  os.makedirs(log_dir, exist_ok=True)
  tag = f"{name}_{hosts}x{rate.replace(',', '_')}"
  up_cmd = [cluster_bin, "up", f"--hosts={hosts}", f"--rate={rate}"]
  try:
    harness.log(f"cluster {name}: up {hosts} hosts at {rate}")
    up_log = os.path.join(log_dir, f"cluster_up_{tag}.log")
    harness.run_command(up_cmd, up_log, timeout_s, env=env(name))
    with open(up_log) as f:
      status = f.read().split("\n", 1)[1]
    yield {"name": name, "hosts": hosts, "rate": rate, "env": env(name),
           "up_command": harness.command_text(up_cmd, env(name)),
           "status": status}
  finally:
    down_log = os.path.join(log_dir, f"cluster_down_{tag}.log")
    with open(down_log, "w") as f:
      rc = subprocess.run([cluster_bin, "down"], stdout=f,
                          stderr=subprocess.STDOUT,
                          env=dict(os.environ, **env(name))).returncode
    left = leftovers(name)
    harness.log(f"cluster {name}: down (exit {rc}"
                f"{', left behind: ' + '; '.join(left) if left else ''})")
    if rc != 0 or left:
      raise harness.RunFailed(
          f"cluster {name}: `down` exited {rc}; left behind: {left}; see "
          f"{down_log}, then `FREEZING_CLUSTER={name} bazel run "
          "//comm:cluster -- down`")


def calibrations(path):
  """The calibrations of a `comm:calibrate` file (one, or a set) as
  [{world_size, operation, algorithm, alpha_us, beta_ns_per_byte, gbit_s,
  r2}] (comm/calibration.proto; protobuf's camelCase in older files)."""
  with open(path) as f:
    cal = json.load(f)
  out = []
  for c in cal.get("calibrations", [cal]):
    alpha = c.get("alpha_s", c.get("alphaS", 0.0))
    beta = c.get("beta_s_per_byte", c.get("betaSPerByte", 0.0))
    out.append({
        "world_size": c.get("world_size", c.get("worldSize")),
        "operation": c.get("operation") or "allreduce",
        "algorithm": c.get("algorithm") or "ring",
        "alpha_us": alpha * 1e6, "beta_ns_per_byte": beta * 1e9,
        "gbit_s": 8 / beta / 1e9 if beta else None,
        "r2": c.get("r_squared", c.get("rSquared"))})
  return out


def calibration_of(cals, world_size, operation="iallreduce"):
  """The calibration at `world_size` of `operation` (the trainer's gradient
  buckets off one host: iallreduce), else of any operation; None if none."""
  at = [c for c in cals if c["world_size"] == world_size]
  return next((c for c in at if c["operation"] == operation),
              at[0] if at else None)
