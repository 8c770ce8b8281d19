#!/bin/bash
# Online equals offline, live (issue 5): a real 2-rank run with the study's
# gradient norm test (prefix variant, majority votes) on a small
# Fashion-MNIST subset writes a trace; the same policy fed that trace's
# statistics reproduces the recorded freeze events exactly; then the same
# for a ViT with snr-weighted votes.
# usage: online_offline_live_test.sh TRAIN CHECK
set -euo pipefail
train="$PWD/$1"
check="$PWD/$2"
out="${TEST_TMPDIR:-/tmp}/online_offline"
rm -rf "$out"
"$train" --data=fashion_mnist --classes=5,6,7,8,9 --train_limit=2048 \
  --test_limit=200 --model=resnet_tiny --batch_size=32 --epochs=2 --ranks=2 \
  --stats_interval=4 --policy=gradnorm:variant=prefix --vote_rule=majority \
  --checkpoints=false --log_every=1000 --out="$out"
"$check" --trace="$out/trace.pb" --min_events=1

# The same on a Vision Transformer (vit_mini, patch 8 to keep it short) with
# the snr-weighted vote: its units (embedding, encoder blocks, head) need
# nothing of their own.
rm -rf "$out"
"$train" --data=fashion_mnist --classes=5,6,7,8,9 --train_limit=1024 \
  --test_limit=100 --model=vit_mini --patch_size=8 --lr=0.03 --batch_size=32 \
  --epochs=2 --ranks=2 --stats_interval=2 --policy=gradnorm:variant=prefix \
  --vote_rule=snr --checkpoints=false --log_every=1000 --out="$out"
"$check" --trace="$out/trace.pb" --min_events=1
