"""compare_pytorch's freezing-efficiency table on a recorded trace.

The K=0 run is testdata/r18_none_2rank.pb (resnet18, 2 ranks, no freezing,
with its start-up profile), read as compare_pytorch reads its own runs; the
"K=4 run" is the same steps 20% faster. Checks where each column comes
from: W (frozen_*_ms, limit_frac, efficiency) from the trace's recorded
per-unit times, V (savable_frac, nograd_fwd_kept_ms, input_grad_ms,
efficiency_savable) from the simulator (//replay static:4 against none on
that trace), and that they relate as physics says: 0 < V < W.
"""

import json
import os
import shutil
import tempfile
import unittest

from benchmarks import compare_pytorch
from benchmarks import harness

ROOT = os.path.dirname(harness.BENCHMARKS)  # the runfiles root under Bazel


def runfile(path):
  """A file of the runfiles, or of bazel-bin when run from the checkout."""
  for p in (os.path.join(ROOT, path), os.path.join(ROOT, "bazel-bin", path)):
    if os.path.exists(p):
      return p
  raise FileNotFoundError(path)


class EfficiencyTest(unittest.TestCase):
  @classmethod
  def setUpClass(cls):
    tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    run_dir = os.path.join(tmp, "ours_r2_k0")
    os.makedirs(run_dir)
    trace = os.path.join(run_dir, "trace.pb")
    shutil.copy(runfile("testdata/r18_none_2rank.pb"), trace)
    cls.bins = {"trace_json": runfile("benchmarks/trace_json"),
                "replay": runfile("replay/replay")}
    cls.warmup = 4
    base = compare_pytorch.read_run(cls.bins, trace)
    base["warmup"] = cls.warmup
    faster = {"warmup": cls.warmup,
              "steps": [dict(s, total_s=0.8 * s["total_s"])
                        for s in base["steps"]]}
    cls.rows = compare_pytorch.efficiency_rows(
        cls.bins, {(2, 0): [base], (2, 4): [faster]}, {}, {}, [2], [0, 4])
    with open(os.path.join(run_dir, "replay", "replay.json")) as f:
      cls.replay = {r["policy"]: r for r in json.load(f)["results"]}
    cls.trace = harness.trace_json(cls.bins["trace_json"], trace)

  def test_rows(self):
    self.assertEqual([(r["ranks"], r["K"]) for r in self.rows],
                     [(2, 0), (2, 4)])
    k4 = self.rows[1]
    self.assertEqual(k4["frozen_units"], "conv1+bn1+layer1+layer2")
    self.assertAlmostEqual(k4["saving_frac"], 0.2, places=9)

  def test_w_is_the_recorded_per_unit_time(self):
    steps = [s for s in self.trace["steps"]
             if harness.i64(s["step"]) >= self.warmup]

    def unit_ms(key, u):
      return harness.median(harness.i64(s[key][u]) for s in steps) * 1e-6

    k4 = self.rows[1]
    self.assertAlmostEqual(
        k4["frozen_fwd_ms"], sum(unit_ms("unit_forward_ns", u)
                                 for u in range(4)), places=9)
    self.assertAlmostEqual(
        k4["frozen_bwd_ms"], sum(unit_ms("unit_backward_ns", u)
                                 for u in range(4)), places=9)
    w_ms = (k4["frozen_fwd_ms"] + k4["frozen_bwd_ms"] + k4["frozen_opt_ms"] +
            k4["frozen_comm_ms"])
    self.assertAlmostEqual(k4["limit_frac"], w_ms / k4["step_K0_ms"],
                           places=9)
    self.assertAlmostEqual(k4["efficiency"], k4["saving_ms"] / w_ms, places=9)

  def test_v_is_the_simulators_static_k_saving(self):
    k4 = self.rows[1]
    self.assertAlmostEqual(k4["savable_frac"],
                           self.replay["static:4"]["saved_fraction"],
                           places=5)
    self.assertAlmostEqual(
        k4["efficiency_savable"],
        k4["saving_frac"] / k4["savable_frac"], places=9)

  def test_v_is_w_minus_kept_forward_plus_the_rest(self):
    k4 = self.rows[1]
    w_ms = k4["limit_frac"] * k4["step_K0_ms"]
    self.assertAlmostEqual(
        k4["savable_frac"] * k4["step_K0_ms"],
        w_ms - k4["nograd_fwd_kept_ms"] + k4["input_grad_ms"], places=9)

  def test_v_below_w(self):
    # Without the cache, the frozen prefix's no-grad forward still runs:
    # what freezing can save is less than the frozen units' share.
    k4 = self.rows[1]
    self.assertGreater(k4["savable_frac"], 0.0)
    self.assertLess(k4["savable_frac"], k4["limit_frac"])
    self.assertGreater(k4["nograd_fwd_kept_ms"], 0.0)
    self.assertLess(k4["nograd_fwd_kept_ms"], k4["frozen_fwd_ms"])
    self.assertGreater(k4["input_grad_ms"], 0.0)

  def test_k0_saves_nothing(self):
    k0 = self.rows[0]
    self.assertEqual(k0["frozen_units"], "-")
    self.assertEqual(k0["limit_frac"], 0.0)
    self.assertEqual(k0["savable_frac"], 0.0)
    self.assertNotEqual(k0["efficiency"], k0["efficiency"])  # nan


if __name__ == "__main__":
  unittest.main()
