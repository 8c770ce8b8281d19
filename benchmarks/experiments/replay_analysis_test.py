"""Tests of the replay analyses (interval_coverage.py, risk_validation.py,
replay_runs.py): the statistics on numbers worked out by hand, the pairing
of runs, and both tools end to end on testdata/'s traces with the real
//replay binary (7 traces: 7 held-out cases, the r18 none -> static:4 pair as
the one cross-run case, 4 freezing runs with a `none` twin).
"""

import json
import os
import tempfile
import unittest

from benchmarks.experiments import interval_coverage
from benchmarks.experiments import replay_runs
from benchmarks.experiments import risk_validation

RUNFILES = os.path.join(os.environ.get("RUNFILES_DIR", ""), "freezing")
REPLAY = os.path.join(RUNFILES, "replay", "replay")
TESTDATA = os.path.join(RUNFILES, "testdata")


class StatisticsTest(unittest.TestCase):
  def test_ranks_share_ties(self):
    self.assertEqual(risk_validation.ranks([3, 1, 2, 2]), [4, 1, 2.5, 2.5])

  def test_spearman_by_hand(self):
    sp = risk_validation.spearman
    self.assertEqual(sp([1, 2, 3, 4], [10, 20, 30, 40]), 1.0)
    self.assertEqual(sp([1, 2, 3, 4], [4, 3, 2, 1]), -1.0)
    # d = -1, 1, -1, 1, 0: 1 - 6 * 4 / (5 * 24) = 0.8.
    self.assertAlmostEqual(sp([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]), 0.8)
    self.assertIsNone(sp([1, 2], [1, 2]))  # too few points
    self.assertIsNone(sp([1, 1, 1], [1, 2, 3]))  # no ranking

  def test_bootstrap_is_seeded_and_brackets_rho(self):
    xs = [0.1, 0.2, 0.25, 0.4, 0.5, 0.55, 0.7, 0.8]
    ys = [0.5, 0.3, 1.0, 2.0, 1.5, 3.0, 2.5, 4.0]
    ci = risk_validation.bootstrap_ci(xs, ys, 2000, seed=1)
    self.assertEqual(ci, risk_validation.bootstrap_ci(xs, ys, 2000, seed=1))
    self.assertNotEqual(ci, risk_validation.bootstrap_ci(xs, ys, 2000, seed=2))
    rho = risk_validation.spearman(xs, ys)
    self.assertLessEqual(ci[0], rho)
    self.assertLessEqual(rho, ci[1])
    self.assertLessEqual(ci[1], 1.0)
    self.assertIsNone(risk_validation.bootstrap_ci(xs[:2], ys[:2], 100, 1))


class RepeatsTest(unittest.TestCase):
  def point(self, folder, run, drop, risk):
    p = {"folder": folder, "run": run, "drop_pts": drop, "partial": False}
    for proxy in risk_validation.PROXIES:
      p[proxy] = risk
    return p

  def test_repeats_average_per_run_and_retest_their_drops(self):
    pts = [self.point("e1", "a", 1.0, 0.1),
           self.point("s1", "x", 10.0, 0.2), self.point("s1", "y", 20.0, 0.4),
           self.point("s1", "z", 30.0, 0.6),
           self.point("s2", "x", 12.0, 0.4), self.point("s2", "y", 2.0, 0.4),
           self.point("s2", "z", 40.0, 0.6)]
    avg = risk_validation.averaged_repeats(pts, ["s1", "s2"])
    self.assertEqual(len(avg), 4)  # e1's point and x, y, z
    y = [p for p in avg if p["run"] == "y"][0]
    self.assertAlmostEqual(y["drop_pts"], 11.0)
    self.assertAlmostEqual(y["norm_share"], 0.4)
    self.assertEqual(y["repeats"], 2)
    x = [p for p in avg if p["run"] == "x"][0]
    self.assertAlmostEqual(x["unconverged"], 0.3)
    t = risk_validation.test_retest(pts, ["s1", "s2"], 200, 1)
    self.assertEqual(t["runs"], 3)
    # s1 ranks x < y < z, s2 ranks y < x < z: rho = 1 - 6*2/(3*8) = 0.5.
    self.assertAlmostEqual(t["spearman"], 0.5)
    self.assertAlmostEqual(t["median_abs_difference_pts"], 10.0)
    self.assertIsNone(risk_validation.test_retest(pts, ["s1"], 200, 1))


class TwinTest(unittest.TestCase):
  def run_of(self, command, name="r"):
    return replay_runs.Run("exp", name, "t.pb", command=command)

  def test_twins_differ_only_in_freezing(self):
    base = ("UCX_TLS=tcp /o/exp/bin/train --data=fashion_mnist "
            "--partition=iid --ranks=2")
    none = self.run_of(f"{base} --policy=none --out=/o/exp/runs/none")
    frozen = self.run_of(f"{base} --policy=static:3 --vote_rule=majority "
                         f"--cache --out=/o/exp/runs/static_3")
    other_env = self.run_of(
        base.replace("UCX_TLS=tcp", "UCX_TLS=shm") + " --policy=none")
    other_data = self.run_of(
        base.replace("iid", "dirichlet:alpha=0.1") + " --policy=static:3")
    self.assertEqual(none.twin_key(), frozen.twin_key())
    self.assertNotEqual(none.twin_key(), other_env.twin_key())
    self.assertNotEqual(none.twin_key(), other_data.twin_key())
    self.assertTrue(frozen.cache)
    self.assertFalse(none.cache)

  def test_records_environment_is_part_of_the_twin_key(self):
    # Experiment 9: one cluster name, one command, two link rates.
    cmd = "FREEZING_CLUSTER=exp9c /o/bin/train --cluster --ranks=2"
    fast = replay_runs.Run("exp9", "a", "t.pb", f"{cmd} --policy=none",
                           environment={"link_rates": "1gbit"})
    fast_frozen = replay_runs.Run("exp9", "b", "t.pb",
                                  f"{cmd} --policy=static:4",
                                  environment={"link_rates": "1gbit"})
    slow = replay_runs.Run("exp9", "c", "t.pb", f"{cmd} --policy=static:4",
                           environment={"link_rates": "250mbit"})
    self.assertEqual(fast.twin_key(), fast_frozen.twin_key())
    self.assertNotEqual(fast.twin_key(), slow.twin_key())


@unittest.skipUnless(os.path.exists(REPLAY), "needs //replay in the runfiles")
class EndToEndTest(unittest.TestCase):
  def setUp(self):
    self.out = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))

  def test_interval_coverage_on_testdata(self):
    args = interval_coverage.parse_args(
        [TESTDATA, f"--out={self.out}", f"--replay_bin={REPLAY}"])
    res = interval_coverage.coverage(args)
    kinds = [c["kind"] for c in res["cases"]]
    # One held-out prediction per recorded trace of testdata/.
    traces = [f for f in os.listdir(TESTDATA) if f.endswith(".pb")]
    self.assertEqual(kinds.count("held_out"), len(traces))
    cross = [c for c in res["cases"] if c["kind"] == "cross_run"]
    self.assertEqual(len(cross), 1)
    self.assertEqual((cross[0]["from_run"], cross[0]["run"]),
                     ("r18_none_2rank", "r18_static4_2rank"))
    for c in res["cases"]:
      self.assertLessEqual(c["low_s"], c["predicted_s"])
      self.assertLessEqual(c["predicted_s"], c["high_s"])
      self.assertEqual(c["inside"], c["low_s"] <= c["measured_s"] <= c["high_s"])
    overall = res["summary"][-1]
    self.assertEqual(overall["cases"], len(traces) + 1)
    self.assertGreater(overall["inside_share"], 0)
    self.assertLess(overall["median_half_width_frac"], 0.5)
    interval_coverage.report(res, self.out)
    with open(os.path.join(self.out, "interval_coverage.json")) as f:
      self.assertEqual(json.load(f)["summary"], res["summary"])
    # Deterministic (and the second time from the kept replays).
    again = interval_coverage.coverage(args)
    self.assertEqual(again["cases"], res["cases"])

  def test_risk_validation_on_testdata(self):
    args = risk_validation.parse_args(
        [TESTDATA, f"--out={self.out}", f"--replay_bin={REPLAY}",
         "--bootstrap=200"])
    res = risk_validation.validate(args)
    runs = sorted(p["run"] for p in res["points"])
    self.assertEqual(runs, ["r18_static4_2rank", "tiny_autofreeze_snr_2rank",
                            "tiny_freezeout_1rank",
                            "tiny_gradnorm_prefix_majority_2rank"])
    for p in res["points"]:
      self.assertAlmostEqual(
          p["drop_pts"], 100 * (p["none_accuracy"] - p["accuracy"]))
      for proxy in risk_validation.PROXIES:
        self.assertIn(proxy, p)
    overall = [r for r in res["correlations"] if r["folder"] == "(all)"]
    self.assertEqual([r["proxy"] for r in overall],
                     list(risk_validation.PROXIES))
    risk_validation.report(res, self.out)
    self.assertTrue(os.path.exists(
        os.path.join(self.out, "risk_correlation.csv")))


if __name__ == "__main__":
  unittest.main()
