"""Recorder on a tiny model, 1 and 2 gloo processes: bad input fails before
training with a clear error; what is recorded is what happened (the norms of
the gradients, the trainable bytes all-reduced, the frozen units); the
trace reads with trace_tool and its freeze events replay (online ==
offline)."""

import json
import math
import os
import subprocess
import tempfile
import unittest

import torch

# gloo on localhost only.
os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
from torch import nn

import freezing_torch
from freezing_torch import _freezing as fz
from freezing_torch import trace_pb2

RUNFILES = os.environ["FREEZING_RUNFILES"]
TMP = os.environ.get("TEST_TMPDIR", tempfile.gettempdir())
SUMMARY_FIELDS = [
    "policy", "ranks", "threads", "epochs", "steps", "total_time_s",
    "startup_s", "eval_s", "images_per_s", "phase_avg_s", "phase_per_epoch_s",
    "final_test_accuracy", "test_accuracy_per_epoch", "test_loss_per_epoch",
    "freeze_events", "bytes_allreduced", "cache"]


class Tiny(nn.Module):
  """Units (children with parameters): conv1, bn1, conv2, fc."""

  def __init__(self):
    super().__init__()
    self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
    self.bn1 = nn.BatchNorm2d(4)
    self.relu = nn.ReLU(inplace=True)
    self.conv2 = nn.Conv2d(4, 8, 3, padding=1, stride=2)
    self.pool = nn.AdaptiveAvgPool2d(1)
    self.fc = nn.Linear(8, 3)

  def forward(self, x):
    x = self.relu(self.bn1(self.conv1(x)))
    x = self.relu(self.conv2(x))
    return self.fc(self.pool(x).flatten(1))


def read_trace(path):
  """The records of a trace file, checking trace_format.h's framing."""
  with open(path, "rb") as f:
    data = f.read()
  assert data[:12] == fz.file_header(), "bad file header"
  pos, records = 12, []
  while pos < len(data):
    n = int.from_bytes(data[pos:pos + 4], "little")
    assert int.from_bytes(data[pos + 4:pos + 8], "little") == fz.crc32c(
        data[pos:pos + 4])
    payload = data[pos + 8:pos + 8 + n]
    assert int.from_bytes(data[pos + 8 + n:pos + 12 + n],
                          "little") == fz.crc32c(payload)
    records.append(trace_pb2.TraceRecord.FromString(payload))
    pos += 12 + n
  return records


def kinds(records, kind):
  return [getattr(r, kind) for r in records if r.WhichOneof("kind") == kind]


def batches(rank, n, size=8):
  g = torch.Generator().manual_seed(100 + rank)
  return [(torch.randn(size, 3, 8, 8, generator=g),
           torch.randint(0, 3, (size,), generator=g)) for _ in range(n)]


def train(rank, ranks, out, policy, steps=8, T=2, rule="global",
          capture=None, epochs=1, max_steps=0, use_ddp=None):
  """Runs the recorder's loop; `capture[u]` collects per-step local
  gradients of unit u's parameters (flattened, registration order)."""
  torch.manual_seed(1)
  model = Tiny()
  opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
  ddp = None
  if use_ddp if use_ddp is not None else ranks > 1:
    ddp = nn.parallel.DistributedDataParallel(model)
  on = [False]  # only the steps' backward passes, not the profile's
  if capture is not None:
    names = ["conv1", "bn1", "conv2", "fc"]
    for u, name in enumerate(names):
      for p in getattr(model, name).parameters():
        p.register_hook(lambda g, u=u, p=p: capture.append(
            (u, id(p), g.detach().clone())) if on[0] else None)
  rec = freezing_torch.Recorder(
      model, optimizer=opt, ddp=ddp, out=out, policy=policy, vote_rule=rule,
      stats_interval=T, stats_window=2, steps_per_epoch=steps, epochs=epochs,
      max_steps=max_steps, profile_repeats=1)
  data = batches(rank, steps)
  for _ in range(epochs):
    for x, y in rec.batches(data):
      loss = nn.functional.cross_entropy(rec.net(x), y)
      on[0] = True
      rec.backward(loss)
      on[0] = False
      rec.step()
    rec.end_epoch(test_accuracy=0.5, test_loss=1.0)
  rec.close()
  return model, rec


class BadInputTest(unittest.TestCase):

  def make(self, **kw):
    model = Tiny()
    args = dict(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                out=os.path.join(TMP, "bad"), steps_per_epoch=4)
    args.update(kw)
    return freezing_torch.Recorder(model, **args)

  def test_unit_that_is_not_a_module(self):
    with self.assertRaisesRegex(ValueError, "'layer9' is not a module"):
      self.make(units=["conv1", "bn1", "layer9", "fc"])

  def test_units_must_cover_every_parameter(self):
    with self.assertRaisesRegex(ValueError, "'bn1.weight' belongs to no unit"):
      self.make(units=["conv1", "conv2", "fc"])

  def test_policy_spec_error_is_the_cpp_message(self):
    for spec in ("gradnorm:bogus=1", "nosuch", "gradnorm:norm=l3"):
      with self.assertRaises(ValueError) as got:
        self.make(policy=spec)
      cpp = subprocess.run(
          [os.path.join(RUNFILES, "pytorch/policy_error"), spec, "global",
           "10"], capture_output=True, text=True, check=True).stdout.strip()
      self.assertEqual(str(got.exception), cpp)
    with self.assertRaisesRegex(ValueError, "static:9"):
      self.make(policy="static:9")  # 4 units here
    with self.assertRaisesRegex(ValueError, "vote rule"):
      self.make(vote_rule="bogus")

  def test_output_folder_that_cannot_be_written(self):
    blocker = os.path.join(TMP, "a_file")
    open(blocker, "w").close()
    with self.assertRaisesRegex(OSError, "cannot write the output folder"):
      self.make(out=os.path.join(blocker, "run"))
    os.makedirs(os.path.join(TMP, "dir_trace", "trace.pb"), exist_ok=True)
    with self.assertRaisesRegex(OSError, "cannot write the output folder"):
      self.make(out=os.path.join(TMP, "dir_trace"))

  def test_ddp_that_cannot_be_hooked(self):
    import torch.distributed as dist
    from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
    store = dist.FileStore(os.path.join(TMP, "store1"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
      model = Tiny()
      ddp = nn.parallel.DistributedDataParallel(model)
      ddp.register_comm_hook(None, default_hooks.allreduce_hook)
      with self.assertRaisesRegex(ValueError, "cannot hook its gradient"):
        freezing_torch.Recorder(model, ddp=ddp, out=os.path.join(TMP, "h"),
                                steps_per_epoch=4)
      other = nn.parallel.DistributedDataParallel(Tiny())
      with self.assertRaisesRegex(ValueError, "wraps another module"):
        freezing_torch.Recorder(model, ddp=other, out=os.path.join(TMP, "h"),
                                steps_per_epoch=4)
      with self.assertRaisesRegex(ValueError, "DistributedDataParallel"):
        freezing_torch.Recorder(model, ddp=model, out=os.path.join(TMP, "h"),
                                steps_per_epoch=4)
      # Nothing was written: the errors came before any training.
      self.assertFalse(os.path.exists(os.path.join(TMP, "h", "trace.pb")))
    finally:
      dist.destroy_process_group()

  def test_steps_per_epoch_is_required(self):
    with self.assertRaisesRegex(ValueError, "steps_per_epoch"):
      self.make(steps_per_epoch=None)


def expected_norms(capture, T, steps, units=4):
  """Per base interval, per unit: the L2 norm of the summed local grads."""
  sums = {}
  per_step = {}
  order = []
  for u, pid, g in capture:
    per_step.setdefault(pid, []).append((u, g))
    if pid not in order:
      order.append(pid)
  out = []
  for i in range(steps // T):
    norms = []
    for u in range(units):
      total = 0.0
      for pid in order:
        gs = per_step[pid]
        if gs[0][0] != u:
          continue
        s = sum(g.double() for _, g in gs[i * T:(i + 1) * T])
        if torch.is_tensor(s):
          total += float((s * s).sum())
      norms.append(math.sqrt(total))
    out.append(norms)
  return out


class OneRankTest(unittest.TestCase):

  def test_records_what_happened(self):
    out = os.path.join(TMP, "one")
    capture = []
    _, rec = train(0, 1, out, "none", steps=8, T=2, capture=capture)
    records = read_trace(os.path.join(out, "trace.pb"))
    self.assertEqual(records[0].WhichOneof("kind"), "header")
    self.assertEqual(records[1].WhichOneof("kind"), "profile")
    self.assertEqual(records[-1].WhichOneof("kind"), "footer")
    h = records[0].header
    self.assertEqual([u.name for u in h.units], ["conv1", "bn1", "conv2", "fc"])
    self.assertEqual([u.params for u in h.units], [112, 8, 296, 27])
    self.assertTrue(h.units[3].is_classifier)
    self.assertEqual(h.params[0].name, "conv1.weight")
    self.assertEqual(h.config.policy, rec.policy_spec)
    self.assertEqual(h.units[0].output_elements_per_sample, 4 * 8 * 8)
    steps = kinds(records, "step")
    self.assertEqual([s.step for s in steps], list(range(8)))
    for s in steps:
      self.assertEqual(len(s.unit_forward_ns), 4)
      self.assertTrue(all(t > 0 for t in s.unit_forward_ns))
      # Units' backward spans add up to the backward (no DDP: no hooks'
      # accumulation inside it).
      self.assertEqual(sum(s.unit_backward_ns), s.phases.backward_ns)
      self.assertGreaterEqual(s.phases.total_ns, s.phases.forward_ns +
                              s.phases.backward_ns + s.phases.optimizer_ns)
    # The recorded norms are those of the gradients the model really had.
    intervals = kinds(records, "interval")
    self.assertEqual(len(intervals), 4)
    want = expected_norms(capture, 2, 8)
    for i, iv in enumerate(intervals):
      got = [getattr(iv, "global")[u].l2[0] for u in range(4)]
      for g, w in zip(got, want[i]):
        self.assertAlmostEqual(g, w, delta=1e-5 * w + 1e-9)
    with open(os.path.join(out, "summary.json")) as f:
      summary = json.load(f)
    self.assertEqual(list(summary), SUMMARY_FIELDS)
    self.assertEqual(summary["steps"], 8)
    footer = records[-1].footer
    self.assertEqual(footer.steps, 8)
    self.assertAlmostEqual(summary["total_time_s"], footer.total_time_ns * 1e-9,
                           places=5)
    # trace_tool reads it.
    info = subprocess.run([os.path.join(RUNFILES, "trace/trace_tool"), "info",
                           os.path.join(out, "trace.pb")],
                          capture_output=True, text=True)
    self.assertEqual(info.returncode, 0, info.stderr)
    self.assertIn("steps 8", info.stdout)

  def test_max_steps_stops_early(self):
    out = os.path.join(TMP, "short")
    _, rec = train(0, 1, out, "none", steps=8, T=2, epochs=2, max_steps=5)
    self.assertEqual(rec.global_step, 5)
    self.assertEqual(len(kinds(read_trace(os.path.join(out, "trace.pb")),
                               "step")), 5)


def two_rank_worker(rank, store, out, policy, rule, result):
  import torch.distributed as dist
  dist.init_process_group("gloo", store=dist.FileStore(store, 2), rank=rank,
                          world_size=2)
  capture = []
  model, rec = train(rank, 2, out, policy, steps=16, T=2, rule=rule,
                     capture=capture)
  torch.save({
      "frozen": rec.frozen,
      "requires_grad": [p.requires_grad for p in model.parameters()],
      "bn1_training": model.bn1.training,
      "opt_params": sum(len(g["params"]) for g in rec.optimizer.param_groups),
      "expected": expected_norms(capture, 2, 16),
  }, result)
  dist.destroy_process_group()


def _spawned(rank, store, outs, policy, rule, results):
  two_rank_worker(rank, store, outs, policy, rule, results[rank])


def run_two(name, policy, rule="global"):
  import torch.multiprocessing as mp
  out = os.path.join(TMP, name)
  results = [os.path.join(TMP, f"{name}.r{r}") for r in range(2)]
  mp.start_processes(_spawned, args=(os.path.join(TMP, name + ".store"), out,
                                     policy, rule, results), nprocs=2,
                     start_method="spawn")
  return out, [torch.load(r) for r in results]


class TwoRankTest(unittest.TestCase):

  def test_static_freezes_for_real(self):
    out, res = run_two("static2", "static:2")
    records = read_trace(os.path.join(out, "trace.pb"))
    events = kinds(records, "freeze_event")
    self.assertEqual([list(e.freeze) for e in events], [[0, 1]])
    self.assertEqual(events[0].step, 0)
    h = records[0].header
    trainable_bytes = sum(u.bytes for u in h.units[2:])
    for s in kinds(records, "step"):
      self.assertEqual(list(s.trainable), [False, False, True, True])
      # Only trainable gradients are all-reduced (DDP re-wrapped).
      self.assertEqual(s.bytes_allreduced, trainable_bytes)
      self.assertEqual(sum(b.bytes for b in s.bucket_timings),
                       trainable_bytes)
      for b in s.bucket_timings:
        self.assertLessEqual(b.ready_ns, b.start_ns)
        self.assertLessEqual(b.start_ns, b.done_ns)
      self.assertEqual(s.unit_backward_ns[0], 0)
    for r in res:
      self.assertEqual(r["frozen"], [True, True, False, False])
      self.assertEqual(r["requires_grad"], [False] * 4 + [True] * 4)
      self.assertFalse(r["bn1_training"])
      self.assertEqual(r["opt_params"], 4)
    # Per-rank local norms: those of each rank's own gradients; the frozen
    # units' are 0 (never trained).
    for iv in kinds(records, "interval"):
      i = iv.index
      for rank_stats in iv.ranks:
        want = res[rank_stats.rank]["expected"][i]
        got = [u.l2[0] for u in rank_stats.units]
        self.assertEqual(got[:2], [0.0, 0.0])
        for g, w in zip(got[2:], want[2:]):
          self.assertAlmostEqual(g, w, delta=1e-5 * w)

  def test_online_equals_offline(self):
    for name, policy, rule in (("fo", "freezeout:t0=0.2", "majority"),
                               ("gn", "gradnorm:variant=prefix", "majority")):
      with self.subTest(policy=policy):
        out, res = run_two(name, policy, rule)
        trace = os.path.join(out, "trace.pb")
        events = kinds(read_trace(trace), "freeze_event")
        # Both freeze on this model and data (so the check means something).
        self.assertGreaterEqual(len(events), 1)
        self.assertEqual(res[0]["frozen"], res[1]["frozen"])
        check = subprocess.run(
            [os.path.join(RUNFILES, "replay/check_recorded_policy"),
             "--trace=" + trace], capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("OK", check.stdout)


if __name__ == "__main__":
  unittest.main()
