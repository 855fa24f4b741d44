#!/usr/bin/env bash
# The stage ablation (README: Stage ablation) on a fresh checkout: edit stages I, II and III
# trained afresh by the shapes config's own sections from the shipped generator, in a run folder
# of their own, then the full evaluation with their checkpoints scored beside the shipped models.
#   bash training/recipes/ablation.sh [RUN_DIR]   (default runs/ablation; about 70 min on a 2-core AMX host)
# Re-running resumes each stage from its latest checkpoint.
set -euo pipefail
cd "$(dirname "$0")/../.."
run_dir="${1:-runs/ablation}"
config=training/configs/shapes.yaml
if [ ! -f "$run_dir/model/model_index.json" ]; then
  # The shipped checkpoint in fp32 (assets/ holds fp16), so the stages train fp32 master weights.
  python -c "import sys; from models.pipelines import load_components, save_components
components, clip_format = load_components('assets/shapes'); save_components(sys.argv[1], components, clip_format)" \
    "$run_dir/model"
fi
for stage in edit_stage1 edit_stage2 edit_stage3; do
  start=$(date +%s)
  python -m "training.$stage" --config "$config" --output-dir "$run_dir"
  echo "stage $stage: $(( $(date +%s) - start )) s wall" | tee -a "$run_dir/recipe_times.txt"
done
python -m studio.evaluation.evaluate --model assets/shapes --count 300 --edits-per-task 40 \
  --ablation "$run_dir" --ablation-edits-per-task 20 --out "$run_dir/metrics.json"
