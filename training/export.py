"""Export a run's checkpoint for shipping: half-precision safetensors and a model card.

    python -m training.export --config training/configs/shapes.yaml --out assets/shapes

The card states each model's config, the data, the steps and wall time of each run of a stage
(from its log and the recipe_times.txt the recipe keeps in the run folder), the run's NOTES.md if
it has one, and the measured metrics (metrics.json, written by `python -m
studio.evaluation.evaluate`) when present.
"""

import argparse
import json
import os
import shutil
from pathlib import Path

import torch

from models.pipelines import load_components, save_components
from training.config import load_config, run_order


def stage_summary(run: Path, sections: list[str]) -> list[str]:
    times = {}
    times_file = run / "recipe_times.txt"
    if times_file.is_file():
        for line in times_file.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "stage":
                times[parts[1].rstrip(":")] = parts[2]
    rows = ["| stage | steps | final loss | precision | wall time (s) |", "|---|---|---|---|---|"]
    for section in sections:
        log = run / section / "log.jsonl"
        if not log.is_file():
            continue
        records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        last = records[-1] if records else {}
        # as trained, not as configured: bf16 falls back to fp32 where it is emulated, and a
        # run resumed on other hardware may have trained in both
        precisions = sorted({"fp32" if r["precision"] == "no" else r["precision"] for r in records if "precision" in r})
        rows.append(f"| {section} | {last.get('step', '?')} | {last.get('loss', float('nan')):.4f} | "
                    f"{', '.join(precisions) or '?'} | {times.get(section, '?')} |")
    return rows


def model_card(cfg, sections: list[str], components: dict, fmt: dict, metrics: dict | None) -> str:
    lines = ["# Flipbook Shapes World models", "",
             "Trained from scratch on the Shapes World (shared/specs/shapes-world.md) with "
             f"`bash training/recipes/shapes.sh` (config `{cfg.name}`, {cfg.world_count} samples, seed "
             f"{cfg.world_seed}, held out: {', '.join(cfg.holdout)}).", "",
             f"Clip format: {json.dumps(fmt)}", "", "## Stages", "", *stage_summary(cfg.run_path, sections), "",
             "## Components", ""]
    notes = cfg.run_path / "NOTES.md"  # how the run departed from a plain recipe run, if it did
    if notes.is_file():
        lines[-2:-2] = ["## Run notes", "", notes.read_text().strip(), ""]
    for name, module in sorted(components.items()):
        config = dict(getattr(module, "config", {})) if name != "text_encoder" else {"name_or_path": "default"}
        config = {k: v for k, v in config.items() if not k.startswith("_")}
        params = sum(p.numel() for p in module.parameters()) if isinstance(module, torch.nn.Module) else 0
        lines += [f"- **{name}** ({params / 1e6:.2f} M parameters): `{json.dumps(config, default=str)}`"]
    lines += ["", "## Metrics", ""]
    if metrics:
        lines += ["```json", json.dumps(metrics, indent=1), "```"]
    else:
        lines += ["Not measured yet: `python -m studio.evaluation.evaluate --model assets/shapes`."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", required=True, help="destination folder (replaced atomically)")
    parser.add_argument("--output-dir", help="the run folder, if not the config's")
    args = parser.parse_args()
    cfg = load_config(args.config, "export", {"run_dir": args.output_dir})
    components, fmt = load_components(cfg.checkpoint_path)
    fmt["compose_objects"] = cfg.compose_objects
    for name, module in components.items():
        if isinstance(module, torch.nn.Module) and name != "text_encoder":
            module.to(torch.float16)
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_components(tmp, components, fmt)
    metrics_path = cfg.checkpoint_path / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
    if metrics:
        shutil.copy(metrics_path, tmp / "metrics.json")
    sections = [section for _, section in run_order(args.config)]
    (tmp / "README.md").write_text(model_card(cfg, sections, components, fmt, metrics))
    old = out.with_name(out.name + ".old")
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
    size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    print(f"exported {out} ({size_mb:.1f} MB)")


if __name__ == "__main__":
    main()
