"""benchmarks/ as one Python package: the run harness (harness.py), the
comparison with PyTorch DDP (compare_pytorch.py) and the study's experiments
(experiments/). Modules import each other as `benchmarks.X`; run them with
Debian's /usr/bin/python3 as `python3 -m benchmarks.X` from the checkout, or
through the Bazel wrappers (BUILD), which put the runfiles root on
PYTHONPATH."""
