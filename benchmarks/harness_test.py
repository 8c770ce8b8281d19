"""Unit tests of the run harness (benchmarks/harness.py).

run_command's failure handling: a command that finished its work (its last
output written, the trainer's last line printed) and then hung or failed at
exit is kept with a warning; every other failure still raises RunFailed.
run_command_retrying_exit_hang runs a job again that failed with MPI's hang
at exit, and only then.
Signals: SIGTERM, SIGINT and SIGHUP end a harness process with 128 + signal
and kill the job it was running. The binaries: given paths are copied into
OUT/bin without building, also when they already are those copies (--resume).
replay(): its command line, replay.json, and failures with replay's output.
"""

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
from unittest import mock

from benchmarks import harness


class RunCommandTest(unittest.TestCase):
  def setUp(self):
    self.dir = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    self.log = os.path.join(self.dir, "log.txt")
    self.done = os.path.join(self.dir, "summary.json")

  def run_sh(self, script, timeout_s=20):
    return harness.run_command(["/bin/sh", "-c", script], self.log, timeout_s,
                               done_file=self.done)

  def test_success(self):
    meas = self.run_sh("echo hello")
    self.assertNotIn("hung_at_exit", meas)
    self.assertGreaterEqual(meas["wall_s"], 0)
    with open(self.log) as f:
      self.assertEqual(f.read(), "/bin/sh -c echo hello\nhello\n")

  def test_failure_before_finishing_raises(self):
    with self.assertRaisesRegex(harness.RunFailed, "exit 3"):
      self.run_sh(f"echo '{{}}' > {self.done}; exit 3")  # no last line

  def test_last_line_without_output_raises(self):
    with self.assertRaisesRegex(harness.RunFailed, "exit 255"):
      self.run_sh(f"echo '{harness.FINISHED_MARK}x'; exit 255")

  def test_stale_output_raises(self):
    with open(self.done, "w") as f:
      f.write("{}")
    os.utime(self.done, (0, 0))  # written before this run
    with self.assertRaisesRegex(harness.RunFailed, "exit 255"):
      self.run_sh(f"echo '{harness.FINISHED_MARK}x'; exit 255")

  def test_failure_after_finishing_is_kept(self):
    meas = self.run_sh(
        f"echo '{{}}' > {self.done}; echo '{harness.FINISHED_MARK}x'; "
        "exit 255")
    self.assertTrue(meas["hung_at_exit"])
    self.assertEqual(meas["exit_status"], 255)

  def test_hang_after_finishing_is_kept(self):
    meas = self.run_sh(
        f"echo '{{}}' > {self.done}; echo '{harness.FINISHED_MARK}x'; "
        "sleep 30", timeout_s=1)
    self.assertTrue(meas["hung_at_exit"])
    self.assertEqual(meas["exit_status"], "timeout")

  def test_hang_before_finishing_raises(self):
    with self.assertRaisesRegex(harness.RunFailed, "timed out after 1 s"):
      self.run_sh("sleep 30", timeout_s=1)

  def test_exit_hang_is_run_again(self):
    # Fails at MPI's exit on the first try, succeeds on the second.
    tries = os.path.join(self.dir, "tries")
    script = (f"echo x >> {tries}; [ $(wc -l < {tries}) -ge 2 ] && exit 0; "
              f"echo '{harness.EXIT_HANG_MARK} 20 s'; exit 13")
    meas = harness.run_command_retrying_exit_hang(["/bin/sh", "-c", script],
                                                  self.log, 20)
    self.assertEqual(meas["attempts"], 2)
    with open(f"{self.log}.try1") as f:
      self.assertIn(harness.EXIT_HANG_MARK, f.read())

  def test_other_failures_and_the_last_try_raise(self):
    with self.assertRaisesRegex(harness.RunFailed, "exit 3"):
      harness.run_command_retrying_exit_hang(["/bin/sh", "-c", "exit 3"],
                                             self.log, 20)
    self.assertFalse(os.path.exists(f"{self.log}.try1"))
    script = f"echo '{harness.EXIT_HANG_MARK}'; exit 13"
    with self.assertRaisesRegex(harness.RunFailed, "exit 13"):
      harness.run_command_retrying_exit_hang(["/bin/sh", "-c", script],
                                             self.log, 20, tries=2)
    self.assertTrue(os.path.exists(f"{self.log}.try1"))

  def test_command_text(self):
    self.assertEqual(harness.command_text(["a", "b"], {"Z": "1", "A": "2"}),
                     "A=2 Z=1 a b")
    self.assertEqual(harness.command_text(["a"]), "a")


class SignalTest(unittest.TestCase):
  """A process that installed the handlers and is inside run_command."""

  def run_and_signal(self, signum):
    d = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    pid_file = os.path.join(d, "job.pid")
    code = textwrap.dedent(f"""
        from benchmarks import harness
        harness.install_signal_handlers()
        harness.run_command(
            ["/bin/sh", "-c", "echo $$ > {pid_file}.tmp; "
             "mv {pid_file}.tmp {pid_file}; exec sleep 60"],
            "{os.path.join(d, 'log.txt')}", 60)
        """)
    # The child imports the package from the same PYTHONPATH.
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 20
    while not os.path.exists(pid_file) and time.time() < deadline:
      time.sleep(0.02)
    with open(pid_file) as f:
      job = int(f.read())
    os.kill(proc.pid, signum)
    self.assertEqual(proc.wait(timeout=20), 128 + signum)
    # run_command killed the job's process group and reaped it.
    with self.assertRaises(ProcessLookupError):
      os.kill(job, 0)

  def test_sigterm(self):
    self.run_and_signal(signal.SIGTERM)

  def test_sigint(self):
    self.run_and_signal(signal.SIGINT)

  def test_sighup(self):
    self.run_and_signal(signal.SIGHUP)


class PrepareBinariesTest(unittest.TestCase):
  def setUp(self):
    self.dir = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    self.src = os.path.join(self.dir, "train_src")
    with open(self.src, "w") as f:
      f.write("#!/bin/sh\necho trainer\n")

  def test_given_paths_are_copied_without_building(self):
    bin_dir = os.path.join(self.dir, "out", "bin")
    with mock.patch.object(harness.subprocess, "run",
                           side_effect=AssertionError("bazel ran")):
      bins = harness.prepare_binaries(bin_dir, {"train": self.src})
      self.assertEqual(bins, {"train": os.path.join(bin_dir, "train")})
      self.assertTrue(os.access(bins["train"], os.X_OK))
      with open(bins["train"]) as f:
        self.assertIn("echo trainer", f.read())
      # --resume passes OUT/bin's own copies: nothing to copy, no error.
      again = harness.prepare_binaries(bin_dir, dict(bins))
      self.assertEqual(again, bins)

  def test_missing_paths_are_built_in_one_command(self):
    calls = []
    with mock.patch.object(harness.subprocess, "run",
                           side_effect=lambda cmd, **kw: calls.append(cmd)), \
        mock.patch.object(harness.shutil, "copy2"), \
        mock.patch.object(harness.os, "chmod"):
      bins = harness.prepare_binaries(
          os.path.join(self.dir, "bin"),
          {"train": self.src, "replay": "", "trace_json": ""})
    self.assertEqual(calls, [["bazel", "build", "//replay",
                              "//benchmarks:trace_json"]])
    self.assertEqual(sorted(bins), ["replay", "trace_json", "train"])


class ReplayTest(unittest.TestCase):
  def setUp(self):
    self.dir = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))

  def fake_replay(self, body):
    path = os.path.join(self.dir, "replay")
    with open(path, "w") as f:
      f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return path

  def test_writes_and_reads_replay_json(self):
    # Writes its arguments as JSON into the folder of --out.
    fake = self.fake_replay(
        'for a in "$@"; do case "$a" in --out=*) out="${a#--out=}";; esac; '
        'done\necho "{\\"args\\": \\"$*\\"}" > "$out/replay.json"\n')
    out = os.path.join(self.dir, "r")
    result, cmd = harness.replay(fake, out, "t.pb", ["none", "static:2"])
    self.assertEqual(cmd, f"{fake} --trace=t.pb --policies=none;static:2 "
                     f"--out={out}")
    self.assertEqual(result["args"], cmd.split(" ", 1)[1])
    _, cmd = harness.replay(fake, out, "t.pb", ["none"], network="recorded",
                            world_sizes="recorded", cache=True, validate=True)
    self.assertEqual(cmd, f"{fake} --trace=t.pb --policies=none "
                     f"--network=recorded --world_size=recorded --out={out} "
                     "--cache --validate")
    _, cmd = harness.replay(fake, out, "t.pb", ["none"],
                            extra=["--scaling=same_steps", "--max_risk=0.1"])
    self.assertTrue(cmd.endswith(" --scaling=same_steps --max_risk=0.1"), cmd)

  def test_failure_raises_with_its_output(self):
    fake = self.fake_replay("echo 'replay: error: bad policy' >&2\nexit 1\n")
    with self.assertRaisesRegex(harness.RunFailed,
                                "(?s)replay failed: .*bad policy"):
      harness.replay(fake, os.path.join(self.dir, "r"), "t.pb", ["x"])


if __name__ == "__main__":
  unittest.main()
