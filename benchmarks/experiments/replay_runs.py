"""Recorded runs for the replay analyses (interval_coverage.py,
risk_validation.py): which runs a folder holds, which of them differ only in
their freezing policy, and replay's answers about them.

A folder is either an experiment's output (OUT/results.json, whose records
name each run's trace, command and summary; benchmarks/experiments/common.py)
or any folder of traces (every `*.pb` below it, e.g. testdata/). Two runs are
*twins* when they differ only in their freezing: for experiment records, the
same command once --policy, --vote_rule, --cache and --out are removed (the
environment, e.g. experiment 5's network, stays part of it, and so does the
record's `environment`, e.g. experiment 9's link rate, which its command
does not show: one cluster name serves every rate); for bare traces,
the same model, world size and number of steps.

Replay is asked once per (trace, flags) and its replay.json kept under
OUT/replays/ (`Replays`); each run's own facts (policy, vote rule, measured
total, final accuracy) come from replay --validate on its trace, so that a
folder of bare traces needs nothing else.
"""

import hashlib
import json
import os
import re
import shlex

from benchmarks import harness

# Flags of a training command that choose the freezing (or where it goes),
# not the run: removed from the twin key.
_FREEZING_FLAGS = re.compile(r"^--(policy|vote_rule|out|cache|nocache)(=|$)")


class Run:
  """One recorded run."""

  def __init__(self, group, name, trace, command=None, summary=None,
               environment=None):
    self.group = group  # the folder it was found in (its label)
    self.environment = environment or {}  # what the command does not say
    self.name = name
    self.trace = trace
    self.command = command  # the training command, when known
    self.summary = summary or {}  # summary.json, when known
    self.facts = None  # replay.json's "trace" and "validation" (Replays)

  @property
  def policy(self):
    return self.facts["trace"]["policy"]

  @property
  def vote_rule(self):
    return self.facts["trace"]["vote_rule"]

  @property
  def policy_name(self):
    return self.policy.split(":", 1)[0]

  @property
  def world_size(self):
    return self.facts["trace"]["world_size"]

  @property
  def measured_s(self):
    return self.facts["trace"]["measured_total_s"]

  @property
  def accuracy(self):
    acc = self.summary.get("final_test_accuracy")
    return acc if acc is not None else self.facts["trace"].get(
        "final_test_accuracy")

  @property
  def cache(self):
    if self.command is not None:
      return any(a == "--cache" or a == "--cache=true"
                 for a in shlex.split(self.command))
    return False

  def twin_key(self):
    """What twins share (see the module's docstring)."""
    if self.command is not None:
      words = [w for w in shlex.split(self.command)
               if not _FREEZING_FLAGS.match(w)]
      # The binary's path differs between experiments' copies.
      words = [os.path.basename(w) if i == 0 or "/bin/" in w else w
               for i, w in enumerate(words)]
      return ("command", self.group, " ".join(words),
              json.dumps(self.environment, sort_keys=True))
    t = self.facts["trace"]
    return ("trace", self.group, t["model"], t["world_size"], t["steps"])


def find_runs(folder, label=None):
  """The runs under `folder` (see the module's docstring), by name."""
  label = label or os.path.basename(os.path.normpath(folder))
  results = os.path.join(folder, "results.json")
  runs = []
  if os.path.exists(results):
    with open(results) as f:
      res = json.load(f)
    for rec in res.get("records", []):
      trace = rec.get("trace")
      if not trace or not os.path.exists(trace):
        # The folder may have moved since: look beside results.json.
        trace = os.path.join(folder, "runs", rec["name"], "trace.pb")
      if os.path.exists(trace):
        runs.append(Run(label, rec["name"], trace, rec.get("command"),
                        rec.get("summary"), rec.get("environment")))
    return runs
  for root, _, files in sorted(os.walk(folder)):
    for f in sorted(files):
      if not f.endswith(".pb"):
        continue
      path = os.path.join(root, f)
      name = os.path.relpath(path, folder)
      name = os.path.dirname(name) if f == "trace.pb" else name[:-3]
      summary = None
      summary_path = os.path.join(root, "summary.json")
      if f == "trace.pb" and os.path.exists(summary_path):
        with open(summary_path) as s:
          summary = json.load(s)
      runs.append(Run(label, name or label, path, None, summary))
  return runs


def own_network(run):
  """The network a run's own configuration replays on."""
  return "recorded" if run.world_size > 1 else "1gbe"


def file_digest(path):
  """sha1 of a file's bytes."""
  h = hashlib.sha1()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


class Replays:
  """replay.json for (trace, flags), computed once, kept in `out_dir`: the
  key holds the replay binary's and the trace's digests, so that an answer
  of another build of //replay, or about a trace since re-recorded, is never
  reused."""

  def __init__(self, replay_bin, out_dir):
    self.replay_bin = replay_bin
    self.out_dir = out_dir
    self.commands = []
    self._bin_digest = file_digest(replay_bin)
    self._trace_digests = {}

  def ask(self, trace, policies, network=None, world_sizes=None, cache=False,
          validate=False, extra=()):
    trace = os.path.abspath(trace)
    if trace not in self._trace_digests:
      self._trace_digests[trace] = file_digest(trace)
    key = json.dumps([trace, policies, network, world_sizes, cache, validate,
                      list(extra), self._bin_digest,
                      self._trace_digests[trace]])
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    out = os.path.join(self.out_dir, digest)
    path = os.path.join(out, "replay.json")
    if os.path.exists(path) and os.path.exists(os.path.join(out, "key")):
      with open(os.path.join(out, "key")) as f:
        if f.read() == key:
          with open(path) as j:
            return json.load(j)
    result, cmd = harness.replay(self.replay_bin, out, trace, policies,
                                 network=network, world_sizes=world_sizes,
                                 cache=cache, validate=validate, extra=extra)
    with open(os.path.join(out, "key"), "w") as f:
      f.write(key)
    self.commands.append(cmd)
    return result

  def learn(self, run):
    """Fills run.facts from replay --validate on its own trace."""
    if run.facts is None:
      r = self.ask(run.trace, ["none"], validate=True)
      run.facts = {"trace": r["trace"], "validation": r.get("validation")}
    return run


def twins(runs):
  """{twin key: [runs]} in the order the runs came."""
  out = {}
  for r in runs:
    out.setdefault(r.twin_key(), []).append(r)
  return out


def median(xs):
  return harness.median(xs)
