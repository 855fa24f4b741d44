#!/usr/bin/env bash
# Retrain every shipped checkpoint from scratch on the Shapes World, then export to
# assets/<config's name> (assets/shapes; the tiny config's to assets/tiny, leaving the shipped models be).
#   bash training/recipes/shapes.sh [CONFIG]        (default training/configs/shapes.yaml)
# Runs every section of the config's `stages` in file order: a stage, or a further run of one
# (`<stage>.<name>`, e.g. edit_stage3.round2). Each resumes from its latest checkpoint, so
# re-running after a stop continues.
# More processes: set LAUNCH="accelerate launch --multi_gpu --num_processes N" (GPUs), or on
# CPUs LAUNCH="accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no".
set -euo pipefail
cd "$(dirname "$0")/../.."
config="${1:-training/configs/shapes.yaml}"
launch="${LAUNCH:-python}"
order=$(python -m training.config "$config")
run_dir=$(python -m training.config "$config" --run-dir)
mkdir -p "$run_dir"
mapfile -t runs <<< "$order"
for run in "${runs[@]}"; do
  read -r stage section <<< "$run"
  start=$(date +%s)
  $launch -m "training.$stage" --config "$config" --section "$section"
  echo "stage $section: $(( $(date +%s) - start )) s wall" | tee -a "$run_dir/recipe_times.txt"
done
python -m training.export --config "$config" --out "assets/$(basename "$config" .yaml)"
