#!/bin/bash
# Records the traces of testdata/ with the trainer, then refreshes the
# goldens of //replay:regression_test. Run from anywhere in the workspace:
#
#   testdata/regenerate.sh             # record every trace, then the goldens
#   testdata/regenerate.sh NAME...     # record only these traces, then goldens
#   testdata/regenerate.sh --goldens   # only refresh the goldens
#
# Each trace is a small real run on Fashion-MNIST classes 5-9 (about 5 s for
# resnet_tiny, 30 s for resnet18, 4 min for vit_mini on 2 cores with
# Debian's reference BLAS). Timings differ from run to run,
# so recording changes the goldens: review `git diff testdata/` and commit
# traces and goldens together.
set -euo pipefail
cd "$(dirname "$0")/.."

COMMON=(--data=fashion_mnist --classes=5,6,7,8,9 --test_limit=500
        --batch_size=32 --epochs=2 --stats_interval=4 --stats_window=4
        --seed=1 --log_every=1000)
TINY1=(--model=resnet_tiny --ranks=1 --threads=1 --train_limit=1024)
TINY2=(--model=resnet_tiny --ranks=2 --train_limit=2048)
R18=(--model=resnet18 --ranks=2 --train_limit=2048)
# A ViT learns with SGD at a smaller rate than the ResNets' 0.1.
VIT=(--model=vit_mini --ranks=2 --train_limit=1024 --lr=0.03)

declare -A TRACES=(
  [tiny_none_1rank]="${TINY1[*]} --policy=none"
  [tiny_freezeout_1rank]="${TINY1[*]} --policy=freezeout"
  [tiny_none_2rank]="${TINY2[*]} --policy=none"
  [tiny_autofreeze_snr_2rank]="${TINY2[*]} --policy=autofreeze --vote_rule=snr"
  [tiny_gradnorm_prefix_majority_2rank]="${TINY2[*]} --policy=gradnorm:variant=prefix --vote_rule=majority"
  [r18_none_2rank]="${R18[*]} --policy=none"
  [r18_static4_2rank]="${R18[*]} --policy=static:4"
  [vit_mini_none_2rank]="${VIT[*]} --policy=none"
)

record() {
  local name="$1"
  local out
  out="$(mktemp -d)"
  echo "== ${name}: bazel run //train -- ${COMMON[*]} ${TRACES[$name]}"
  # shellcheck disable=SC2086
  bazel run //train -- "${COMMON[@]}" ${TRACES[$name]} --out="${out}" \
    > "${out}.log" 2>&1 || { cat "${out}.log"; exit 1; }
  cp "${out}/trace.pb" "testdata/${name}.pb"
  rm -rf "${out}" "${out}.log"
}

if [[ "${1:-}" != "--goldens" ]]; then
  names=("$@")
  if [[ ${#names[@]} -eq 0 ]]; then
    names=(tiny_none_1rank tiny_freezeout_1rank tiny_none_2rank
           tiny_autofreeze_snr_2rank tiny_gradnorm_prefix_majority_2rank
           r18_none_2rank r18_static4_2rank vit_mini_none_2rank)
  fi
  for name in "${names[@]}"; do
    [[ -n "${TRACES[$name]:-}" ]] || { echo "unknown trace ${name}; valid: ${!TRACES[*]}"; exit 2; }
    record "${name}"
  done
fi
bazel run //replay:update_goldens
