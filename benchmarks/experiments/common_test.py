#!/usr/bin/python3
"""Unit tests of common.run_command's failure handling: a command that
finished its work (its last output written, the trainer's last line printed)
and then hung or failed at exit is kept with a warning; every other failure
still raises RunFailed."""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


class RunCommandTest(unittest.TestCase):
  def setUp(self):
    self.dir = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    self.log = os.path.join(self.dir, "log.txt")
    self.done = os.path.join(self.dir, "summary.json")

  def run_sh(self, script, timeout_s=20):
    return common.run_command(["/bin/sh", "-c", script], self.log, timeout_s,
                              done_file=self.done)

  def test_success(self):
    meas = self.run_sh("echo hello")
    self.assertNotIn("hung_at_exit", meas)
    self.assertGreaterEqual(meas["wall_s"], 0)

  def test_failure_before_finishing_raises(self):
    with self.assertRaisesRegex(common.RunFailed, "exit 3"):
      self.run_sh(f"echo '{{}}' > {self.done}; exit 3")  # no last line

  def test_last_line_without_output_raises(self):
    with self.assertRaisesRegex(common.RunFailed, "exit 255"):
      self.run_sh(f"echo '{common.FINISHED_MARK}x'; exit 255")

  def test_stale_output_raises(self):
    with open(self.done, "w") as f:
      f.write("{}")
    os.utime(self.done, (0, 0))  # written before this run
    with self.assertRaisesRegex(common.RunFailed, "exit 255"):
      self.run_sh(f"echo '{common.FINISHED_MARK}x'; exit 255")

  def test_failure_after_finishing_is_kept(self):
    meas = self.run_sh(
        f"echo '{{}}' > {self.done}; echo '{common.FINISHED_MARK}x'; exit 255")
    self.assertTrue(meas["hung_at_exit"])
    self.assertEqual(meas["exit_status"], 255)

  def test_hang_after_finishing_is_kept(self):
    meas = self.run_sh(
        f"echo '{{}}' > {self.done}; echo '{common.FINISHED_MARK}x'; sleep 30",
        timeout_s=1)
    self.assertTrue(meas["hung_at_exit"])
    self.assertEqual(meas["exit_status"], "timeout")

  def test_hang_before_finishing_raises(self):
    with self.assertRaisesRegex(common.RunFailed, "timed out after 1 s"):
      self.run_sh("sleep 30", timeout_s=1)


if __name__ == "__main__":
  unittest.main()
