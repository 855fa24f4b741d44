"""Training configuration: one YAML per named setup (`training/configs/<name>.yaml`), with
settings shared by every stage and a section per stage that overrides them.

Everything a stage needs to know lives here, so a stage script states only what differs.
"""

import argparse
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class StageConfig:
    name: str  # the configuration's name (its file's stem)
    stage: str
    section: str = ""  # the config section read and the run's output folder: the stage or <stage>.<name>
    preset: str = "tiny"  # models/presets.py, for components a stage creates
    run_dir: str = "runs/tiny"  # every stage of a configuration writes under here
    world_count: int = 48  # Shapes World training samples written when the data folder is empty
    world_seed: int = 1
    holdout: list = field(default_factory=lambda: ["default"])
    data: str = ""  # dataset folder (world or prepared); default RUN_DIR/data
    seed: int = 0
    max_steps: int = 4
    batch_size: int = 2  # global batch per optimizer step (split across processes)
    grad_accum: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 0
    decay_steps: int = 0  # the last N of max_steps take the learning rate linearly to zero
    max_grad_norm: float = 1.0
    ema_decay: float = 0.99
    mixed_precision: str = "no"  # "bf16" where the hardware has it
    compile: bool = False  # torch.compile the stage's models in place (not the VAEs: conv3d fails on CPU)
    checkpoint_every: int = 2
    keep_checkpoints: int = 2
    validate_every: int = 0  # 0: only at the end
    log_every: int = 1
    mix: dict = field(default_factory=dict)  # task -> weight, for stages that mix data
    text_dropout: float = 0.1
    image_dropout: float = 0.5  # generator: chance a sample is text-to-video (no first frame)
    kl_weight: float = 1e-6  # VAEs
    sample_steps: int = 4  # sampling steps for validation clips and backtranslation
    backtranslation_count: int = 8  # stage III: clips the stage II model edits
    frames: int = 16  # animated-frame editing (stage II): frames per synthetic video
    resume: str = "latest"  # "latest" or "none"
    grow_depth: int = 0  # generator_deep, upsampler: blocks the saved model grows to (training/grow.py)
    partials: int = 0  # audio_partials: the harmonics the audio VAE's harmonic head draws per frame
    foreground_weight: float = 0.0  # generator: extra loss weight on latent cells of objects (training/diffusion.py)
    start_from_saved: bool = False  # upsampler, edit stages: train on the run's saved upsampler / edit
    # transformer (fresh optimiser and schedule) instead of fresh weights / the stage they start from
    compose_objects: bool = False  # export: the checkpoint samples prompts object by object (flat
    # backgrounds only; models/pipelines/object_composition.py)

    @property
    def run_path(self) -> Path:
        path = Path(self.run_dir)
        return path if path.is_absolute() else REPO_ROOT / path

    @property
    def data_path(self) -> Path:
        return Path(self.data) if self.data else self.run_path / "data"

    @property
    def checkpoint_path(self) -> Path:
        """The run's Flipbook checkpoint, filled in stage by stage."""
        return self.run_path / "model"

    @property
    def output_path(self) -> Path:
        return self.run_path / (self.section or self.stage)


def load_config(path: str | Path, stage: str, overrides: dict | None = None, section: str | None = None) -> StageConfig:
    """`section` (`<stage>.<name>`) names another section of `stages` to read instead of the
    stage's own, so one config can describe a further run of a stage, with its own output
    folder and checkpoints."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config {path} does not exist")
    raw = yaml.safe_load(path.read_text()) or {}
    stages = raw.pop("stages", {}) or {}
    section = section or stage
    if section.split(".")[0] != stage:
        raise ValueError(f"section '{section}' is not a run of {stage} (its name must be {stage} or {stage}.<name>)")
    if section != stage and section not in stages:
        raise ValueError(f"{path} has no section '{section}' under stages (it has {sorted(stages)})")
    known = {f.name for f in fields(StageConfig)} - {"name", "stage", "section"}
    values = {**raw, **(stages.get(section) or {}), **{k: v for k, v in (overrides or {}).items() if v is not None}}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{path}: unknown settings {unknown}")
    return StageConfig(name=path.stem, stage=stage, section=section, **values)


def parse_args(stage: str, description: str) -> StageConfig:
    """The command line every stage script shares."""
    parser = argparse.ArgumentParser(prog=f"python -m training.{stage}", description=description)
    parser.add_argument("--config", default=str(REPO_ROOT / "training/configs/tiny.yaml"), help="YAML config")
    parser.add_argument("--max-steps", type=int, help="override the config's max_steps")
    parser.add_argument("--output-dir", help="override the run folder (default from the config)")
    parser.add_argument("--resume", choices=("latest", "none"), default="latest",
                        help="continue from the newest complete checkpoint (default) or start over")
    parser.add_argument("--section", help="read this section of the config's stages instead of the stage's own "
                                          "(a further run of the stage, written to RUN_DIR/SECTION)")
    args = parser.parse_args()
    try:
        return load_config(args.config, stage, {"max_steps": args.max_steps, "run_dir": args.output_dir,
                                                "resume": args.resume}, section=args.section)
    except ValueError as error:
        parser.error(str(error))


def run_order(path: str | Path) -> list[tuple[str, str]]:
    """(stage, section) for every section of a config's `stages` in file order, the order the
    recipe runs them in."""
    stages = (yaml.safe_load(Path(path).read_text()) or {}).get("stages") or {}
    return [(section.split(".")[0], section) for section in stages]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m training.config",
                                     description="Print the stage and section of each run of a config, in order.")
    parser.add_argument("config", type=Path)
    parser.add_argument("--run-dir", action="store_true", help="print the config's run folder instead")
    args = parser.parse_args()
    if not args.config.is_file():
        parser.error(f"config {args.config} does not exist")
    if args.run_dir:
        print(load_config(args.config, "export").run_path)
    else:
        for stage, section in run_order(args.config):
            print(stage, section)
