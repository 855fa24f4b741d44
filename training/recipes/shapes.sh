#!/usr/bin/env bash
# Retrain every shipped checkpoint from scratch on the Shapes World, then export to assets/.
#   bash training/recipes/shapes.sh [CONFIG]        (default training/configs/shapes.yaml)
# Each stage resumes from its latest checkpoint, so re-running after a stop continues.
# More processes: set LAUNCH="accelerate launch --multi_gpu --num_processes N" (GPUs), or on
# CPUs LAUNCH="accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no".
set -euo pipefail
cd "$(dirname "$0")/../.."
config="${1:-training/configs/shapes.yaml}"
launch="${LAUNCH:-python}"
for stage in vae vae_decoder generator generator_deep upsampler edit_stage1 edit_stage2 edit_stage3; do
  start=$(date +%s)
  $launch -m training.$stage --config "$config"
  echo "stage $stage: $(( $(date +%s) - start )) s wall" | tee -a runs/recipe_times.txt
done
python -m training.export --config "$config" --out assets/shapes
