"""GradientStatistics against hand-computed values (train/grad_stats.h's
semantics), on one rank and on two gloo ranks."""

import math
import os
import sys
import tempfile
import unittest

import torch

# gloo on localhost only.
os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")

from freezing_torch.grad_stats import GradientStatistics

# Three parameters: p0 (3 elements, unit 0), p1 (2, unit 1), p2 (1, unit 2).
NUMEL = [3, 2, 1]
UNIT = [0, 1, 2]


def feed(stats, step_grads, samples=8, loss=1.0):
  """One step: grads per parameter (None: the unit is frozen)."""
  trained = [g is not None for g in step_grads]
  for p, g in enumerate(step_grads):
    if g is not None:
      stats.accumulate_local(p, torch.tensor(g, dtype=torch.float32))
  stats.end_step(samples, loss * samples, trained)


class OneRankTest(unittest.TestCase):

  def test_windows_frozen_units_and_losses(self):
    s = GradientStatistics(NUMEL, UNIT, 3, window=2)
    # Interval 0: unit 1 trained in the first step only.
    feed(s, [[1, 2, 2], [3, 4], [1]], loss=1.0)
    feed(s, [[1, 0, 0], None, [1]], loss=3.0)
    a = s.finish_interval(0, 0, 1, 0, 0.25)
    # Delta_0: unit 0 = (2, 2, 2), unit 1 = (3, 4), unit 2 = (2).
    self.assertEqual(len(a.global_norms), 3)
    self.assertAlmostEqual(a.global_norms[0].l2[0], math.sqrt(12), places=6)
    self.assertEqual(a.global_norms[0].l1, [6.0])
    self.assertEqual(a.global_norms[1].l2, [5.0])
    self.assertEqual(a.global_norms[1].trained_steps, [1])
    self.assertEqual(a.global_norms[2].l2, [2.0])
    r = a.ranks[0]
    self.assertEqual(r.rank, 0)
    self.assertEqual(r.samples, [16])
    self.assertEqual(r.mean_loss, [2.0])
    # One rank: dot_global is the squared local norm.
    self.assertEqual([u.dot_global[0] for u in r.units], [12.0, 25.0, 4.0])
    self.assertEqual((a.index, a.first_step, a.last_step, a.progress),
                     (0, 0, 1, 0.25))

    # Interval 1: unit 1 frozen throughout.
    feed(s, [[0, 0, -2], None, [1]], loss=4.0)
    feed(s, [[0, 0, -2], None, [1]], loss=4.0)
    b = s.finish_interval(1, 2, 3, 0, 0.5)
    u0, u1, u2 = b.global_norms
    self.assertEqual(u0.l2, [4.0, math.sqrt(12)])  # (0,0,-4); (2,2,-2)
    self.assertEqual(u0.l1, [4.0, 6.0])
    self.assertEqual(u1.l2, [0.0, 5.0])  # only its interval-0 gradient
    self.assertEqual(u1.trained_steps, [0, 1])
    self.assertEqual(u2.l2, [2.0, 4.0])
    self.assertEqual(b.ranks[0].samples, [16, 32])
    self.assertEqual(b.ranks[0].mean_loss, [4.0, 3.0])

    # Interval 2: the ring drops interval 0 (W = 2).
    feed(s, [[1, 1, 1], [1, 1], [0]])
    feed(s, [[0, 0, 0], [0, 0], [0]])
    c = s.finish_interval(2, 4, 5, 0, 0.75)
    self.assertEqual(c.global_norms[0].l1, [3.0, 5.0])  # (1,1,1); (1,1,-3)
    self.assertEqual(c.global_norms[1].l2, [math.sqrt(2), math.sqrt(2)])
    self.assertEqual(c.global_norms[1].trained_steps, [2, 2])

  def test_unit_never_trained_is_zero(self):
    s = GradientStatistics(NUMEL, UNIT, 3, window=1)
    feed(s, [None, None, [5]])
    a = s.finish_interval(0, 0, 0, 0, 1.0)
    self.assertEqual(a.global_norms[0].l2, [0.0])
    self.assertEqual(a.global_norms[0].trained_steps, [0])
    self.assertEqual(a.global_norms[2].l2, [5.0])

  def test_bad_layouts(self):
    with self.assertRaisesRegex(ValueError, "stats_window"):
      GradientStatistics(NUMEL, UNIT, 3, window=17)
    with self.assertRaisesRegex(ValueError, "unknown unit"):
      GradientStatistics(NUMEL, [0, 1, 5], 3, window=1)


def two_rank_worker(rank, store_path, out_path):
  import torch.distributed as dist
  dist.init_process_group("gloo", store=dist.FileStore(store_path, 2),
                          rank=rank, world_size=2)
  s = GradientStatistics(NUMEL, UNIT, 3, window=2, rank=rank, ranks=2)
  if rank == 0:
    feed(s, [[1, 2, 3], [3, 0], None], samples=4, loss=1.0)
  else:
    feed(s, [[1, 0, -1], [1, 2], None], samples=6, loss=2.0)
  a = s.finish_interval(0, 0, 0, 0, 1.0)
  result = {
      "global_l2": [u.l2 for u in a.global_norms],
      "global_l1": [u.l1 for u in a.global_norms],
      "trained": [u.trained_steps for u in a.global_norms],
      "ranks": [(r.rank, r.samples, r.mean_loss,
                 [(u.l2, u.l1, u.dot_global) for u in r.units])
                for r in a.ranks],
  }
  torch.save(result, out_path)
  dist.destroy_process_group()


class TwoRankTest(unittest.TestCase):

  def test_global_is_the_mean_and_every_rank_sees_every_rank(self):
    import torch.multiprocessing as mp
    with tempfile.TemporaryDirectory() as tmp:
      outs = [os.path.join(tmp, f"r{r}") for r in range(2)]
      mp.start_processes(_spawned, args=(os.path.join(tmp, "store"), outs),
                         nprocs=2, start_method="spawn")
      res = [torch.load(o) for o in outs]
    self.assertEqual(res[0], res[1])  # identical on both ranks
    r = res[0]
    # Sum over ranks: unit 0 = (2, 2, 2), unit 1 = (4, 2); mean = sum / 2.
    self.assertAlmostEqual(r["global_l2"][0][0], math.sqrt(12) / 2, places=6)
    self.assertEqual(r["global_l1"][0], [3.0])
    self.assertAlmostEqual(r["global_l2"][1][0], math.sqrt(20) / 2, places=6)
    self.assertEqual(r["global_l2"][2], [0.0])  # frozen on both ranks
    self.assertEqual(r["trained"], [[1], [1], [0]])
    (r0, s0, m0, u0), (r1, s1, m1, u1) = r["ranks"]
    self.assertEqual((r0, s0, m0), (0, [4], [1.0]))
    self.assertEqual((r1, s1, m1), (1, [6], [2.0]))
    self.assertAlmostEqual(u0[0][0][0], math.sqrt(14), places=6)
    self.assertEqual(u1[1][1], [3.0])
    # <local, mean>: rank 0 unit 0: (1,2,3).(1,1,1) = 6; rank 1 unit 1:
    # (1,2).(2,1) = 4.
    self.assertEqual(u0[0][2], [6.0])
    self.assertEqual(u1[1][2], [4.0])


def _spawned(rank, store_path, outs):
  two_rank_worker(rank, store_path, outs[rank])


if __name__ == "__main__":
  unittest.main()
