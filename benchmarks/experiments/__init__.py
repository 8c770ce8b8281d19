"""The study's experiments (issue 8, docs/RESULTS.md): one module per
experiment (`python3 -m benchmarks.experiments.expN_...`), what they share
in common.py."""
