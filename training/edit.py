"""What the three Movie Gen Edit stages share. Each stage script names only its stage, the
stage it starts from and any extra data; the mix of data kinds lives in the YAML config.

Data kinds a mix may name: `clips` (generation), `image_edits` (single frames), `animated_edits`
(frame pairs under one camera move), `edits` (the dataset's video edits), a task's name such as
`segment` (that task's video edits alone, e.g. stage II's instruction-guided segmentation, or a
task weighted up), `backtranslation` (stage III's pairs).
"""

from pathlib import Path

from models.joint_transformer import JointDenoisingTransformer
from models.noise_path import training_scheduler
from models.pipelines import save_components
from studio.world.spec import EDIT_TASKS
from training.config import parse_args
from training.data import CachedData
from training.diffusion import (choose_kind, denoising_loss, draw, edit_inputs, generation_inputs, load_run,
                                task_indices, write_generation_samples)
from training.loop import Stage, make_accelerator, train

CACHED_KIND = {"clips": "clips", "image_edits": "image_edits", "animated_edits": "animated_edits", "edits": "edits",
               **{task: "edits" for task in EDIT_TASKS}}


def final_folder(cfg, stage: str) -> Path:
    return cfg.run_path / stage / "final"


def run_edit_stage(stage: str, description: str, start_from: str | None, extra_data=None) -> None:
    """Train the edit transformer for one stage, starting from the generator (`start_from`
    None), from an earlier stage's final weights, or (`start_from_saved: true`) from the run's
    saved edit transformer, so a stage can be trained on further with a fresh optimiser and
    schedule. `extra_data(cfg, components, fmt, data)` may add data kinds (stage III's
    backtranslation) before training starts."""
    cfg = parse_args(stage, description)
    accelerator = make_accelerator(cfg)
    unknown = set(cfg.mix) - set(CACHED_KIND) - {"backtranslation"}
    if not cfg.mix or unknown:
        raise ValueError(f"{stage}: the config's mix must name data kinds from "
                         f"{sorted(CACHED_KIND) + ['backtranslation']}, got {sorted(cfg.mix)}")
    with accelerator.main_process_first():
        kinds = tuple(sorted({CACHED_KIND[k] for k in cfg.mix if k in CACHED_KIND}))
        components, fmt, data = load_run(cfg, kinds)
        if cfg.start_from_saved and "edit_transformer" not in components:
            raise SystemExit(f"start_from_saved: {cfg.checkpoint_path} has no edit transformer yet; train one first")
        if extra_data is not None:
            data.update(extra_data(cfg, components, fmt))
    if cfg.start_from_saved:
        transformer = components["edit_transformer"].float()
    else:
        origin = final_folder(cfg, start_from) if start_from else cfg.checkpoint_path / "transformer"
        transformer = JointDenoisingTransformer.from_pretrained(origin, use_safetensors=True)
    scheduler = training_scheduler(components["scheduler"])
    mix = {k: v for k, v in cfg.mix.items() if k != "backtranslation" or "backtranslation" in data}
    one_task = {task: task_indices(data["edits"], task) for task in mix if task in EDIT_TASKS}

    def loss(modules, batch):
        kind = choose_kind(batch, mix)
        cached: CachedData = data[CACHED_KIND.get(kind, kind)]
        if kind == "clips":
            inputs = generation_inputs(cached, batch, cfg.text_dropout, cfg.image_dropout)
        else:
            index = draw(batch, one_task[kind]) if kind in one_task else None
            inputs = edit_inputs(cached, batch, cfg.text_dropout, index=index)
        total, parts = denoising_loss(modules["transformer"], scheduler, inputs, batch)
        return total, {f"{kind}_{k}": v for k, v in parts.items()}

    def validate(modules, step, folder):
        write_generation_samples(components, fmt, folder, cfg.sample_steps, transformer=modules["transformer"])

    def finish(modules):
        modules["transformer"].save_pretrained(cfg.output_path / "final", safe_serialization=True)
        save_components(cfg.checkpoint_path, {"edit_transformer": modules["transformer"]}, fmt)

    train(cfg, Stage({"transformer": transformer}, loss, validate, finish), accelerator)
