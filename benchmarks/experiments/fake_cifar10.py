#!/usr/bin/python3
"""Writes a tiny fake CIFAR-10 folder in the binary format (data_batch_1..5.bin,
test_batch.bin: records of 1 label byte + 3072 pixel bytes, R, G, B planes of
32x32), for testing the experiments' `--data=cifar10:DIR` path where the real
data set is not available. Labels cycle over 0..9; each class has its own
mean colour plus noise, so that a model can learn something.

  /usr/bin/python3 benchmarks/experiments/fake_cifar10.py --out=/tmp/cifar \
      [--per_batch=100] [--test=100]
"""

import argparse
import os
import random


def records(n, seed):
  rng = random.Random(seed)
  out = bytearray()
  for i in range(n):
    label = i % 10
    out.append(label)
    for plane in range(3):
      mean = (37 * label + 80 * plane) % 256
      out += bytes(max(0, min(255, mean + rng.randint(-40, 40)))
                   for _ in range(1024))
  return bytes(out)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--out", required=True)
  p.add_argument("--per_batch", type=int, default=100,
                 help="records per training file (5 files)")
  p.add_argument("--test", type=int, default=100, help="test records")
  a = p.parse_args(argv)
  os.makedirs(a.out, exist_ok=True)
  for b in range(1, 6):
    with open(os.path.join(a.out, f"data_batch_{b}.bin"), "wb") as f:
      f.write(records(a.per_batch, b))
  with open(os.path.join(a.out, "test_batch.bin"), "wb") as f:
    f.write(records(a.test, 99))
  print(f"wrote {a.out}: 5 x {a.per_batch} training and {a.test} test "
        "records (fake CIFAR-10)")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
