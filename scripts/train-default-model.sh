#!/usr/bin/env bash
# Re-creates the shipped default model from CC0 recordings alone (Debian's
# sonic-pi-samples: recorded breaks re-chopped, break patterns played on
# recorded one-shots), then evaluates it on fresh loops it never saw.
#   bash scripts/train-default-model.sh        (or: make default-model)
# About 30 minutes on 2 idle CPU cores (20-28 s an epoch), 40 beside other work; see the README.
# Training saves the prior (where the training loops lie, which random points
# are drawn from) itself; the shipped checkpoint, trained before it did, got its
# prior from scripts/fit-prior.py on the same folder.
set -euo pipefail
cd "$(dirname "$0")/.."
VAMEN=${VAMEN:-vamen}
work=${WORK:-build/default-model}
EPOCHS=${EPOCHS:-80}
rm -rf "$work"
mkdir -p "$work"
# the same files for any --jobs: each loop follows from (seed, index) alone
$VAMEN dataset recorded "$work/breaks" --count 1600 --seed 0 --jobs "${JOBS:-$(nproc)}"
$VAMEN train "$work/breaks" --out "$work/vamen-default.pt" --epochs "$EPOCHS" --seed 0 \
  --latent-dim 32 --channels 128 --half --convergence 0.25
cp "$work/vamen-default.pt" model/default/vamen-default.pt
mkdir -p model/default/report
cp "$work"/vamen-default-report/* model/default/report/
$VAMEN eval --model model/default/vamen-default.pt --json | tee model/default/eval.json
