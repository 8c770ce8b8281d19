"""summary.json with train/summary.cc's fields and number formats.

Fields (times in seconds): policy (as given), ranks, threads, epochs, steps,
total_time_s (sum of step totals; start-up and evaluation excluded),
startup_s, eval_s, images_per_s, phase_avg_s and phase_per_epoch_s
({data, forward, backward, comm_exposed, optimizer, stats, comm_total,
total}), final_test_accuracy, test_accuracy_per_epoch, test_loss_per_epoch,
freeze_events [{unit, name, step, epoch, unfreeze}], bytes_allreduced
(gradient bytes sent by each rank), cache {hits, misses, forward_saved_s,
disabled} (no activation cache here: zeros). Written atomically.
"""

import json
import os

PHASES = ("data", "forward", "backward", "comm_exposed", "optimizer", "stats",
          "comm_total", "total")


def _seconds(ns):
  return "%.6f" % (ns * 1e-9)


def _num(v):
  return "%.6f" % v


class RunSummary:

  def __init__(self, policy, ranks, threads, epochs):
    self.policy = policy
    self.ranks = ranks
    self.threads = threads
    self.epochs = epochs
    self.steps = 0
    self.images = 0
    self.phases = {k: 0 for k in PHASES}
    self.startup_ns = 0
    self.eval_ns = 0
    self.bytes_allreduced = 0
    self.freeze_apply_ns = 0  # DDP re-wraps; in no field of summary.json
    self.test_accuracy_per_epoch = []
    self.test_loss_per_epoch = []
    self.freeze_events = []  # (unit, name, step, epoch, unfreeze)

  def add_step(self, images, bytes_allreduced, **phases):
    for k, v in phases.items():
      self.phases[k] += int(v)
    self.steps += 1
    self.images += images
    self.bytes_allreduced += bytes_allreduced

  def _phases_json(self, divisor):
    parts = []
    for k in PHASES:
      v = self.phases[k] * 1e-9 / divisor if divisor > 0 else 0.0
      parts.append(f"\"{k}\": {_num(v)}")
    return "{" + ", ".join(parts) + "}"

  def json(self):
    total_s = self.phases["total"] * 1e-9
    events = []
    for unit, name, step, epoch, unfreeze in self.freeze_events:
      events.append(f"{{\"unit\": {unit}, \"name\": {json.dumps(name)}, "
                    f"\"step\": {step}, \"epoch\": {epoch}, \"unfreeze\": "
                    f"{'true' if unfreeze else 'false'}}}")
    acc = self.test_accuracy_per_epoch
    lines = [
        f"  \"policy\": {json.dumps(self.policy)}",
        f"  \"ranks\": {self.ranks}",
        f"  \"threads\": {self.threads}",
        f"  \"epochs\": {self.epochs}",
        f"  \"steps\": {self.steps}",
        f"  \"total_time_s\": {_seconds(self.phases['total'])}",
        f"  \"startup_s\": {_seconds(self.startup_ns)}",
        f"  \"eval_s\": {_seconds(self.eval_ns)}",
        "  \"images_per_s\": " +
        _num(self.images / total_s if total_s > 0 else 0.0),
        f"  \"phase_avg_s\": {self._phases_json(self.steps)}",
        f"  \"phase_per_epoch_s\": {self._phases_json(self.epochs)}",
        f"  \"final_test_accuracy\": {_num(acc[-1] if acc else 0.0)}",
        "  \"test_accuracy_per_epoch\": [" +
        ", ".join(_num(a) for a in acc) + "]",
        "  \"test_loss_per_epoch\": [" +
        ", ".join(_num(v) for v in self.test_loss_per_epoch) + "]",
        "  \"freeze_events\": [" + ", ".join(events) + "]",
        f"  \"bytes_allreduced\": {self.bytes_allreduced}",
        "  \"cache\": {\"hits\": 0, \"misses\": 0, \"forward_saved_s\": "
        "0.000000, \"disabled\": false}",
    ]
    return "{\n" + ",\n".join(lines) + "\n}\n"

  def write(self, path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
      f.write(self.json())
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
