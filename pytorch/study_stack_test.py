#!/usr/bin/python3
"""benchmarks/ddp_baseline.py and `//pytorch:finetune --record=false` are
one code path (study_stack.py): the same per-step losses on the same
configuration (resnet18 and vit_mini, 1 and 2 ranks, K = 0 and 2), the
same JSON keys; --frozen=K leaves exactly the first K child groups without
gradients (requires_grad False, no .grad after a step, not in the
optimizer, their modules in eval mode), and the groups cover every
parameter once. Run by //benchmarks:study_stack_test; needs Fashion-MNIST
(dataset-fashion-mnist).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import unittest

RUNFILES = os.environ.get("FREEZING_RUNFILES") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(RUNFILES, "pytorch"))
import study_stack  # noqa: E402

PYTHON = "/usr/bin/python3"
COMMON = ["--classes=5,6,7,8,9", "--train_limit=256", "--batch_size=16",
          "--threads=1", "--warmup=0", "--quiet"]
STEPS = 3


def run(cmd):
  env = dict(os.environ, PYTHONPATH=os.path.join(RUNFILES, "pytorch"))
  p = subprocess.run(cmd, capture_output=True, text=True, env=env,
                     timeout=600)
  return p.returncode, p.stdout + p.stderr


class FrontEndsTest(unittest.TestCase):

  def setUp(self):
    self.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))

  def baseline(self, flags):
    out = os.path.join(self.tmp, "baseline.json")
    status, text = run([PYTHON, "-P", os.path.join(
        RUNFILES, "benchmarks", "ddp_baseline.py")] + COMMON + [
            f"--steps={STEPS}", f"--out={out}"] + flags)
    self.assertEqual(status, 0, text)
    with open(out) as f:
      return json.load(f)

  def finetune(self, flags):
    out = os.path.join(self.tmp, "finetune")
    status, text = run([PYTHON, "-P", os.path.join(
        RUNFILES, "pytorch", "finetune.py"), "--record=false",
                        f"--max_steps={STEPS}", "--test_limit=32",
                        f"--out={out}"] + COMMON + flags)
    self.assertEqual(status, 0, text)
    with open(os.path.join(out, "steps.json")) as f:
      return json.load(f)

  def check_same(self, flags):
    a, b = self.baseline(flags), self.finetune(flags)
    losses = [s["loss"] for s in a["steps"]]
    self.assertEqual(len(losses), STEPS)
    self.assertEqual(losses, [s["loss"] for s in b["steps"]], flags)
    self.assertEqual(set(a), set(b) - {"test_accuracy"})
    self.assertEqual(a["config"], b["config"])
    self.assertEqual(a["trainable_params"], b["trainable_params"])
    self.assertEqual(set(a["steps"][0]), {"step", "data_s", "forward_s",
                                          "backward_s", "optimizer_s",
                                          "total_s", "loss"})
    return a

  def test_resnet18(self):
    self.check_same(["--model=resnet18"])

  def test_vit_mini(self):
    a = self.check_same(["--model=vit_mini", "--patch_size=8"])
    self.assertIn("VisionTransformer", a["config"]["model"])

  def test_resnet18_two_ranks_frozen(self):
    a = self.check_same(["--ranks=2", "--frozen=2"])
    self.assertEqual(a["config"]["frozen_groups"], ["conv1", "bn1"])
    self.assertTrue(a["config"]["ddp"])
    self.assertEqual(len(a["median_total_s_per_rank"]), 2)

  def test_bad_flags(self):
    ft = [PYTHON, "-P", os.path.join(RUNFILES, "pytorch", "finetune.py"),
          f"--out={self.tmp}/bad"]
    for flags, message in [
        (["--frozen=2"], "--frozen is for --record=false"),
        (["--record=false", "--policy=gradnorm"], "needs the recorder"),
        (["--model=vit_mini"], "needs --record=false"),
        (["--record=false", "--frozen=7"], "--frozen must be 0..6")]:
      status, text = run(ft + flags)
      self.assertEqual(status, 1, text)
      self.assertTrue(text.startswith("finetune: error: "), text)
      self.assertIn(message, text)


def plain_args(model, frozen):
  p = argparse.ArgumentParser()
  study_stack.add_flags(p)
  args = study_stack.complete(p.parse_args(
      [f"--model={model}", f"--frozen={frozen}", "--threads=1"]))
  assert study_stack.check_args(args) is None
  return args


class FreezingTest(unittest.TestCase):

  def check(self, model_name, k):
    import torch
    args = plain_args(model_name, k)
    torch.manual_seed(1)
    model = study_stack.build_model(args, 5)
    stepper = study_stack.make_plain(model, args, use_ddp=False)
    groups = study_stack.child_groups(model_name)
    members = [study_stack.group_members(model, model_name, g)
               for g in groups]
    owner = {}
    for i, (_, params) in enumerate(members):
      for p in params:
        self.assertNotIn(id(p), owner, f"{groups[i]} shares a parameter")
        owner[id(p)] = i
    self.assertEqual(set(owner), {id(p) for p in model.parameters()})
    x = torch.randn(4, 3, 32, 32)
    y = torch.randint(0, 5, (4,))
    for _ in stepper.batches([(x, y)]):
      loss = torch.nn.functional.cross_entropy(stepper.net(x), y)
      stepper.backward(loss)
      # Gradients exist exactly for the groups from K on (before the step,
      # which sets them to None).
      for i, (modules, params) in enumerate(members):
        for p in params:
          self.assertEqual(p.requires_grad, i >= k, groups[i])
          self.assertEqual(p.grad is not None, i >= k, groups[i])
        for m in modules:
          self.assertEqual(m.training, i >= k, groups[i])
      stepper.step()
    in_opt = {id(p) for g in stepper.opt.param_groups for p in g["params"]}
    self.assertEqual(in_opt, {id(p) for i, (_, ps) in enumerate(members)
                              if i >= k for p in ps})
    self.assertEqual(len(stepper.rows), 1)

  def test_resnet18(self):
    for k in (0, 2, 6):
      self.check("resnet18", k)

  def test_vit_mini(self):
    for k in (1, 3, 7):
      self.check("vit_mini", k)


if __name__ == "__main__":
  unittest.main()
