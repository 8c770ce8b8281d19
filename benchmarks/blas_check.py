#!/usr/bin/python3
"""Which BLAS serves libtorch's matrix products here, and how fast, side by
side with Debian's reference BLAS (the one libtorch falls back to when no
optimised BLAS is installed: tools/setup.sh installs libopenblas0-openmp).

  /usr/bin/python3 benchmarks/blas_check.py [--threads=2] [--repeats=20]

Runs the same float32 products (a ViT block's: tokens x width @ width x 4
width, vit_mini's 64 samples x 65 tokens, width 128; and ResNet-18's
classifier) in two child processes, interleaved: `default` (what the
dynamic linker finds: Debian's alternatives) and `reference`
(LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas, the netlib library), and
prints the library each loaded, the median time and GFLOP/s, and the ratio.
Run it on a quiet machine.
"""

import argparse
import json
import os
import subprocess
import sys

REFERENCE_DIR = "/usr/lib/x86_64-linux-gnu/blas"
SHAPES = [(4160, 128, 512), (4160, 512, 128), (64, 512, 5)]

CHILD = r"""
import json, statistics, sys, time, torch
threads, repeats, shapes = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
torch.set_num_threads(threads)
# The file behind libblas.so.3 (libtorch's BLAS; the OpenBLAS LAPACK may
# load libopenblas too, whichever BLAS serves the products).
import os
libs = []
with open("/proc/self/maps") as f:
  for line in f:
    path = line.split()[-1]
    if "blas" in path and path not in libs:
      libs.append(path)
named = [p for p in libs if os.path.basename(p).startswith("libblas.so")]
lib = named[0] if named else (libs[0] if libs else "unknown")
out = []
for m, k, n in shapes:
  a, b = torch.randn(m, k), torch.randn(k, n)
  for _ in range(3):
    a @ b
  ts = []
  for _ in range(repeats):
    t = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t)
  med = statistics.median(ts)
  out.append({"shape": [m, k, n], "ms": med * 1e3, "gflops": 2 * m * k * n / med / 1e9})
print(json.dumps({"library": lib, "products": out}))
"""


def run(env_extra, args):
  env = dict(os.environ, **env_extra)
  r = subprocess.run([sys.executable, "-c", CHILD, str(args.threads),
                      str(args.repeats), json.dumps(SHAPES)],
                     env=env, capture_output=True, text=True, check=True)
  return json.loads(r.stdout)


def main():
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--threads", type=int, default=2)
  p.add_argument("--repeats", type=int, default=20)
  p.add_argument("--rounds", type=int, default=2)
  args = p.parse_args()
  results = {"default": [], "reference": []}
  for _ in range(args.rounds):
    results["default"].append(run({}, args))
    results["reference"].append(
        run({"LD_LIBRARY_PATH": REFERENCE_DIR}, args))
  libs = {k: v[0]["library"] for k, v in results.items()}
  for k in results:
    print(f"{k:9s}: {libs[k]}")
  print("| product (m x k @ k x n) | default ms | reference ms | default GFLOP/s | reference GFLOP/s | reference / default |")
  print("|---|---|---|---|---|---|")
  for i, shape in enumerate(SHAPES):
    d = min(r["products"][i]["ms"] for r in results["default"])
    f = min(r["products"][i]["ms"] for r in results["reference"])
    dg = max(r["products"][i]["gflops"] for r in results["default"])
    fg = max(r["products"][i]["gflops"] for r in results["reference"])
    print(f"| {shape[0]} x {shape[1]} @ {shape[1]} x {shape[2]} | {d:.2f} | "
          f"{f:.2f} | {dg:.1f} | {fg:.1f} | {f / d:.1f}x |")
  return 0


if __name__ == "__main__":
  sys.exit(main())
