#!/usr/bin/env bash
# Re-creates the shipped default model from nothing but vamen's own
# synthetic breaks (no recorded audio), then evaluates it.
#   bash scripts/train-default-model.sh        (or: make default-model)
# About 20-40 minutes on 2 CPU cores; minutes on a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
VAMEN=${VAMEN:-vamen}
work=${WORK:-build/default-model}
rm -rf "$work"
mkdir -p "$work"
$VAMEN dataset synth "$work/breaks" --count 1500 --seed 0
$VAMEN train "$work/breaks" --out "$work/vamen-default.pt" --epochs 80 --seed 0 --half
cp "$work/vamen-default.pt" model/default/vamen-default.pt
mkdir -p model/default/report
cp "$work"/vamen-default-report/* model/default/report/
$VAMEN eval --model model/default/vamen-default.pt --json | tee model/default/eval.json
