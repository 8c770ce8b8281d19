"""Per-unit gradient statistics, with train/grad_stats.h's semantics.

Per step, every trainable parameter's LOCAL gradient (before the all-reduce)
is added into a flat float32 accumulator. At the end of a base interval of T
steps the accumulator Delta_i holds this rank's gradient summed over the
interval; the global (averaged) sum is its all-reduce (a sum) divided by the
number of ranks. The last W interval sums are kept (local and global), so for
every window of k = 1..W base intervals the norms of
Delta_{i-k+1} + ... + Delta_i are exact.

The same numbers as the C++ trainer, field by field: window sums are float32
sums taken newest interval first (bit for bit the trainer's), squares and
products in float32, float partial sums per 512-element block added in
double per 64Ki-element chunk: the trainer's fused pass itself
(freeze/window_norms.h, the code the trainer runs, called through the
extension, so the same gradients give the same numbers); global norms are
sqrt(sum)/ranks, l1/ranks, dot/ranks; with one rank global = local and
dot_global is the local squared L2 norm; mean_loss = summed loss / samples
(0 without samples); trained_steps counts the steps each unit was trained in.
Units whose trained_steps is 0 in an interval are not all-reduced and have
zero norms. Every rank gets every rank's statistics (one all-gather of
float64s, exact).

The accumulators are laid out unit by unit (parameters of a unit in
registration order), so a unit's norms are over one contiguous segment
whatever the model's registration order.
"""

import math
import time

import torch

from freezing_torch import _freezing

MAX_WINDOW = 16  # train/grad_stats.cc's kMaxWindow


class GradientStatistics:
  """One rank's accumulators; finish_interval is collective."""

  def __init__(self, param_numel, param_unit, num_units, window, rank=0,
               ranks=1, group=None):
    if window < 1 or window > MAX_WINDOW:
      raise ValueError(
          f"--stats_window must be in [1, {MAX_WINDOW}], got {window}")
    if len(param_numel) != len(param_unit):
      raise ValueError("statistics layout: sizes differ")
    self.window = window
    self.num_units = num_units
    self.rank = rank
    self.ranks = ranks
    self.group = group
    self.unit_begin = [0] * num_units
    self.unit_end = [0] * num_units
    self.param_offset = [0] * len(param_numel)
    offset = 0
    for u in range(num_units):
      self.unit_begin[u] = offset
      for p, pu in enumerate(param_unit):
        if pu < 0 or pu >= num_units:
          raise ValueError(f"parameter {p} belongs to unknown unit {pu}")
        if pu == u:
          self.param_offset[p] = offset
          offset += param_numel[p]
      self.unit_end[u] = offset
    self.total_numel = offset
    self.local = [torch.zeros(offset, dtype=torch.float32)
                  for _ in range(window)]
    self.global_ = ([torch.zeros(offset, dtype=torch.float32)
                     for _ in range(window)] if ranks > 1 else [])
    self.trained_steps = [[0] * num_units for _ in range(window)]
    self.samples = [0] * window
    self.loss_sum = [0.0] * window
    self.head = 0
    self.intervals_done = 0
    self.accumulate_ns = 0

  def accumulate_local(self, param, grad):
    """Adds parameter `param`'s local gradient of this step."""
    t0 = time.perf_counter_ns()
    with torch.no_grad():
      off = self.param_offset[param]
      self.local[self.head].narrow(0, off, grad.numel()).add_(
          grad.reshape(-1))
    self.accumulate_ns += time.perf_counter_ns() - t0

  def take_accumulate_ns(self):
    ns, self.accumulate_ns = self.accumulate_ns, 0
    return ns

  def end_step(self, samples, loss_sum, unit_trained):
    """After each step: sample count, summed loss, units trained."""
    h = self.head
    self.samples[h] += samples
    self.loss_sum[h] += loss_sum
    for u in range(self.num_units):
      if unit_trained[u]:
        self.trained_steps[h][u] += 1

  def _all_reduce_interval(self):
    import torch.distributed as dist
    h = self.head
    g = self.global_[h]
    u = 0
    while u < self.num_units:
      if self.unit_begin[u] == self.unit_end[u]:
        u += 1
        continue
      if self.trained_steps[h][u] == 0:
        g.narrow(0, self.unit_begin[u],
                 self.unit_end[u] - self.unit_begin[u]).zero_()
        u += 1
        continue
      v = u
      while v + 1 < self.num_units and self.trained_steps[h][v + 1] > 0:
        v += 1
      begin = self.unit_begin[u]
      n = self.unit_end[v] - begin
      seg = g.narrow(0, begin, n)
      seg.copy_(self.local[h].narrow(0, begin, n))
      dist.all_reduce(seg, group=self.group)
      u = v + 1

  def finish_interval(self, index, first_step, last_step, epoch, progress):
    """Collective: closes the base interval, returns its BaseIntervalStats."""
    with torch.no_grad():
      return self._finish_interval(index, first_step, last_step, epoch,
                                   progress)

  def _finish_interval(self, index, first_step, last_step, epoch, progress):
    ranks = self.ranks
    if ranks > 1:
      self._all_reduce_interval()
    inv_ranks = 1.0 / ranks
    k = min(self.window, self.intervals_done + 1)
    slots = [(self.head - w + self.window) % self.window for w in range(k)]
    lp = [self.local[x].data_ptr() for x in slots]
    gp = [self.global_[x].data_ptr() for x in slots] if ranks > 1 else []

    samples, mean_loss = [], []
    s_total, l_total = 0, 0.0
    for w in range(k):
      s_total += self.samples[slots[w]]
      l_total += self.loss_sum[slots[w]]
      samples.append(s_total)
      mean_loss.append(l_total / s_total if s_total > 0 else 0.0)

    global_norms, local_norms = [], []
    for u in range(self.num_units):
      trained, t = [], 0
      for w in range(k):
        t += self.trained_steps[slots[w]][u]
        trained.append(t)
      b, e = self.unit_begin[u], self.unit_end[u]
      if t > 0:
        sums = _freezing.window_norm_sums(lp, gp, b, e, ranks == 1)
      else:
        sums = [[0.0] * k] * 5
      global_norms.append(_freezing.WindowNorms(
          l2=[math.sqrt(v) * inv_ranks for v in sums[2]],
          l1=[v * inv_ranks for v in sums[3]],
          trained_steps=trained))
      local_norms.append(_freezing.WindowNorms(
          l2=[math.sqrt(v) for v in sums[0]],
          l1=list(sums[1]),
          dot_global=[v * inv_ranks for v in sums[4]],
          trained_steps=trained))
    mine = _freezing.RankWindowStats(rank=self.rank, samples=samples,
                                     mean_loss=mean_loss, units=local_norms)
    ranks_stats = (self._all_gather_ranks(mine, k) if ranks > 1 else [mine])

    self.intervals_done += 1
    self.head = (self.head + 1) % self.window
    self.local[self.head].zero_()
    self.trained_steps[self.head] = [0] * self.num_units
    self.samples[self.head] = 0
    self.loss_sum[self.head] = 0.0
    return _freezing.BaseIntervalStats(
        index=index, first_step=first_step, last_step=last_step, epoch=epoch,
        progress=progress, global_norms=global_norms, ranks=ranks_stats)

  def _all_gather_ranks(self, mine, k):
    """Every rank's RankWindowStats, in rank order (float64s: exact)."""
    import torch.distributed as dist
    values = [float(mine.rank)]
    for w in range(k):
      values += [float(mine.samples[w]), mine.mean_loss[w]]
    for n in mine.units:
      for w in range(k):
        values += [n.l2[w], n.l1[w], n.dot_global[w], float(n.trained_steps[w])]
    t = torch.tensor(values, dtype=torch.float64)
    out = [torch.empty_like(t) for _ in range(self.ranks)]
    dist.all_gather(out, t, group=self.group)
    result = []
    for r in out:
      v = r.tolist()
      pos = 1
      samples, mean_loss = [], []
      for _ in range(k):
        samples.append(int(v[pos]))
        mean_loss.append(v[pos + 1])
        pos += 2
      units = []
      for _ in range(self.num_units):
        l2, l1, dot, trained = [], [], [], []
        for _ in range(k):
          l2.append(v[pos])
          l1.append(v[pos + 1])
          dot.append(v[pos + 2])
          trained.append(int(v[pos + 3]))
          pos += 4
        units.append(_freezing.WindowNorms(l2=l2, l1=l1, dot_global=dot,
                                           trained_steps=trained))
      result.append(_freezing.RankWindowStats(rank=int(v[0]), samples=samples,
                                              mean_loss=mean_loss,
                                              units=units))
    return result
