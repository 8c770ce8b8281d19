#!/usr/bin/env bash
# Installs, idempotently, every Debian 12 package the project needs to build,
# test and run. Safe to run repeatedly: when everything is present it only
# checks and exits. Needs root (or sudo) only when something is missing.
set -euo pipefail

PACKAGES=(
  # Build system (Bazel 4.2.3, offline) and its platforms repository.
  bazel-bootstrap bazel-platforms
  # Compilers and tools used by the build and by the fuzz target.
  g++ clang libclang-rt-14-dev
  # Libraries.
  libtorch-dev
  # An optimised BLAS behind libtorch's matrix products (the linear layers:
  # every ViT block, ResNet's classifier): without it Debian's reference
  # BLAS serves them at ~6 GFLOP/s against ~210 with OpenBLAS on this
  # machine's 2 cores (docs/PERFORMANCE.md). The OpenMP build shares
  # libtorch's OpenMP threads instead of starting its own.
  libopenblas0-openmp
  mpich libmpich-dev
  libabsl-dev
  libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
  zlib1g-dev
  # Real data for the default fine-tuning job.
  dataset-fashion-mnist
  # The study's own stack (PyTorch DDP) for the side-by-side benchmark and
  # parity tests, and plotting for the report.
  python3 python3-torch python3-torchvision python3-numpy python3-matplotlib
  # pytorch/: the pybind11 extension over freeze/ and trace/, and the Python
  # classes generated from trace.proto.
  python3-dev pybind11-dev python3-pybind11 python3-protobuf
  # Network shaping for the communication experiment (tc).
  iproute2
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup.sh: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "setup.sh: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "setup.sh: missing packages and not root (no sudo): ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup.sh: done"
