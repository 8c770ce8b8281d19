"""The extension is freeze/, freeze_trace/ and trace/ themselves: the same
specs, messages, decisions, state and bytes as the C++ side."""

import os
import subprocess
import tempfile
import unittest

from freezing_torch import _freezing as fz
from freezing_torch import trace_pb2

RUNFILES = os.environ["FREEZING_RUNFILES"]
UNITS = [("conv1", 9408), ("bn1", 128), ("layer1", 147968),
         ("layer2", 525568), ("layer3", 2099712), ("layer4", 8393728),
         ("fc", 2565)]


def context(T):
  return fz.PolicyContext(
      units=[fz.UnitInfo(n, p, i == 6) for i, (n, p) in enumerate(UNITS)],
      total_steps=100, steps_per_epoch=10, base_interval_steps=T,
      max_window=16, ranks=2)


def cpp_says(spec, rule, T):
  out = subprocess.run([os.path.join(RUNFILES, "pytorch/policy_error"), spec,
                        rule, str(T)], capture_output=True, text=True,
                       check=True).stdout
  return out.rstrip("\n")


def python_says(spec, rule, T):
  try:
    f = fz.Freezer(spec, rule, context(T), [0])
  except ValueError as e:
    return str(e)
  return "OK " + f.policy_spec()


def interval(index, T, norms, trained):
  """A one-rank base interval whose window-1 global L2 norms are `norms`."""
  units = [fz.WindowNorms(l2=[v], l1=[v], dot_global=[v * v],
                          trained_steps=[t]) for v, t in zip(norms, trained)]
  return fz.BaseIntervalStats(
      index=index, first_step=index * T, last_step=index * T + T - 1,
      epoch=0, progress=(index + 1) * T / 100.0,
      global_norms=[fz.WindowNorms(l2=[v], l1=[v], trained_steps=[t])
                    for v, t in zip(norms, trained)],
      ranks=[fz.RankWindowStats(rank=0, samples=[8], mean_loss=[1.0],
                                units=units)])


class SpecTest(unittest.TestCase):

  def test_messages_are_the_cpp_ones(self):
    cases = [("gradnorm", "global", 10), ("gradnorm:bogus=1", "global", 10),
             ("nosuch", "global", 10), ("static:9", "global", 10),
             ("static:x", "global", 10), ("gradnorm:interval=15", "global", 10),
             ("gradnorm:interval=400", "global", 10),
             ("autofreeze:percentile=150", "global", 10),
             ("apf:ema=2", "majority", 5), ("gradnorm", "bogus", 10),
             ("freezeout", "snr", 4), ("", "global", 10)]
    for spec, rule, T in cases:
      with self.subTest(spec=spec, rule=rule):
        self.assertEqual(python_says(spec, rule, T), cpp_says(spec, rule, T))
    # And the bad ones really are errors, with the spec quoted.
    self.assertIn("'gradnorm:bogus=1'", python_says("gradnorm:bogus=1",
                                                     "global", 10))
    with self.assertRaises(ValueError):
      fz.make_policy("static:9", context(10))

  def test_names(self):
    self.assertIn("gradnorm", fz.policy_names())
    self.assertEqual(fz.vote_rule_names(),
                     ["global", "majority", "samples", "loss", "snr"])


class FreezerTest(unittest.TestCase):

  def test_static_initial(self):
    f = fz.Freezer("static:3", "global", context(10), [0])
    d, frozen = f.initial([False] * 7)
    self.assertEqual(d.decision.freeze, [0, 1, 2])
    self.assertEqual(frozen, [True] * 3 + [False] * 4)
    self.assertEqual(d.interval, -1)

  def test_gradnorm_decides_and_state_round_trips(self):
    f = fz.Freezer("gradnorm", "global", context(10), [0])
    frozen = [False] * 7
    d, frozen = f.on_base_interval(interval(0, 10, [4, 4, 4, 4, 4, 4, 4],
                                            [10] * 7), frozen)
    self.assertIsNone(d)  # the first interval only records
    state = f.save_state()
    d, frozen = f.on_base_interval(interval(1, 10, [3.9, 2, 2, 2, 2, 2, 2],
                                            [10] * 7), frozen)
    self.assertEqual(d.decision.freeze, [0])  # eta 0.025, the smallest
    self.assertEqual(d.apply_step, 20)
    self.assertEqual(frozen, [True] + [False] * 6)
    g = fz.Freezer("gradnorm", "global", context(10), [0])
    g.load_state(state)
    self.assertEqual(g.next_index(), 1)
    d2, _ = g.on_base_interval(interval(1, 10, [3.9, 2, 2, 2, 2, 2, 2],
                                        [10] * 7), [False] * 7)
    self.assertEqual(d2.decision.reason, d.decision.reason)
    with self.assertRaises(ValueError):
      g.load_state(b"garbage")
    with self.assertRaises(ValueError):
      fz.Freezer("static:2", "global", context(10), [0]).load_state(state)

  def test_out_of_order_interval_is_runtime_error(self):
    f = fz.Freezer("gradnorm", "global", context(10), [0])
    with self.assertRaises(RuntimeError):
      f.on_base_interval(interval(3, 10, [1] * 7, [10] * 7), [False] * 7)

  def test_votes_go_through_the_exchange(self):
    seen = []

    def exchange(mine):
      seen.append(fz.decode_votes(mine))
      other = [fz.Vote(rank=1, freeze=[0], weight=1.0)]
      return [mine, fz.encode_votes(other)]

    f = fz.Freezer("gradnorm", "majority", context(10), [0])
    frozen = [False] * 7
    f.on_base_interval(interval(0, 10, [4] * 7, [10] * 7), frozen, exchange)
    d, frozen = f.on_base_interval(
        interval(1, 10, [3.9, 2, 2, 2, 2, 2, 2], [10] * 7), frozen, exchange)
    self.assertEqual(len(seen), 2)
    self.assertEqual(seen[1][0].freeze, [0])
    self.assertEqual(d.decision.freeze, [0])  # 2 votes of 2
    self.assertEqual([v.rank for v in d.votes], [0, 1])
    ev = trace_pb2.FreezeEvent.FromString(f.freeze_event(d))
    self.assertEqual(ev.step, 20)
    self.assertEqual(list(ev.freeze), [0])
    self.assertEqual(ev.rule, "majority")
    self.assertEqual(ev.policy, f.policy_spec())


class BridgeAndWriterTest(unittest.TestCase):

  def test_interval_round_trip_is_exact(self):
    s = interval(2, 10, [0.1 + 0.2, 1e-300, 3.0, 2.5, 7.0, 1.0 / 3, 2.0],
                 [10, 0, 10, 10, 10, 10, 10])
    record = trace_pb2.Interval.FromString(fz.interval_to_trace(s))
    self.assertEqual(record.global_[0].l2[0] if hasattr(record, "global_")
                     else getattr(record, "global")[0].l2[0], 0.1 + 0.2)
    back = fz.interval_from_trace(record.SerializeToString(), 7)
    self.assertEqual([u.l2 for u in back.global_norms],
                     [u.l2 for u in s.global_norms])
    self.assertEqual(back.ranks[0].units[5].l2, [1.0 / 3])
    with self.assertRaises(ValueError):
      fz.interval_from_trace(record.SerializeToString(), 6)

  def test_writer_frames_records_as_trace_format_h(self):
    with tempfile.TemporaryDirectory() as tmp:
      path = os.path.join(tmp, "t.pb")
      w = fz.TraceWriter(path)
      h = trace_pb2.TraceRecord()
      h.header.schema_version = fz.SCHEMA_VERSION
      w.write(h.SerializeToString())
      with self.assertRaises(ValueError):  # a second Header
        w.write(h.SerializeToString())
      with self.assertRaises(ValueError):
        w.write(b"\xff\xff not a record")
      w.close()
      data = open(path, "rb").read()
    payload = h.SerializeToString()
    self.assertEqual(data[:8], b"\x89FRZTRC\n")
    self.assertEqual(int.from_bytes(data[8:12], "little"), fz.FORMAT_VERSION)
    n = int.from_bytes(data[12:16], "little")
    self.assertEqual(n, len(payload))
    self.assertEqual(int.from_bytes(data[16:20], "little"),
                     fz.crc32c(data[12:16]))
    self.assertEqual(data[20:20 + n], payload)
    self.assertEqual(int.from_bytes(data[20 + n:24 + n], "little"),
                     fz.crc32c(payload))
    self.assertEqual(fz.crc32c(b"123456789"), 0xE3069283)
    self.assertEqual(data, fz.file_header() + fz.frame_record(payload))

  def test_writer_errors_are_os_errors(self):
    with self.assertRaises(FileNotFoundError):
      fz.TraceWriter("/nonexistent-folder/trace.pb")
    with self.assertRaises(OSError):
      fz.TraceWriter("/dev/full")  # the file header cannot be written


if __name__ == "__main__":
  unittest.main()
