"""Stage 2b: the cascade's upsampler, base-size latents to full-size latents.

    accelerate launch -m training.upsampler --config training/configs/shapes.yaml

It learns from generation clips (reference: the first frame for image-to-video, else blank)
and, when the dataset has them, from video edits (reference: the full-size source), so it can
restore detail of what an edit kept. With `start_from_saved: true` it trains on the run's
saved upsampler (a fresh optimiser and learning-rate schedule) instead of fresh weights, grown
to `grow_depth` blocks first when the section asks (training/grow.py).
"""

import torch

from models.noise_path import training_scheduler
from models.pipelines import save_components
from models.presets import build_transformers
from training.config import parse_args
from training.data import ensure_dataset, read_records
from training.diffusion import (choose_kind, denoising_loss, edit_inputs, first_frame_condition, generation_inputs,
                                load_run, upsampler_inputs, write_generation_samples)
from training.grow import grow
from training.loop import Stage, make_accelerator, train


def main() -> None:
    cfg = parse_args("upsampler", __doc__.splitlines()[0])
    if cfg.grow_depth and not cfg.start_from_saved:
        raise SystemExit("grow_depth grows the run's saved upsampler: set start_from_saved: true as well")
    if cfg.start_from_saved and not (cfg.checkpoint_path / "upsampler").is_dir():
        raise SystemExit(f"start_from_saved: {cfg.checkpoint_path} has no upsampler yet; train one first")
    if not (cfg.checkpoint_path / "transformer").is_dir():
        raise SystemExit(f"{cfg.checkpoint_path} has no generator yet: it draws the upsampler's validation clips, "
                         "so train it first (training.generator)")
    accelerator = make_accelerator(cfg)
    with accelerator.main_process_first():
        has_edits = bool(read_records(ensure_dataset(cfg), ("edit",)))  # a fresh run folder's data is written first
        components, fmt, data = load_run(cfg, ("clips", "edits") if has_edits else ("clips",))
    scheduler = training_scheduler(components["scheduler"])
    if cfg.start_from_saved:
        upsampler = components["upsampler"].float()
        if cfg.grow_depth:
            upsampler = grow(upsampler, cfg.grow_depth)
    else:
        _, upsampler = build_transformers(cfg.preset, components["video_vae"], components["audio_vae"],
                                          components["text_encoder"])
    mix = {k: v for k, v in (cfg.mix or {"clips": 1, "edits": 1}).items() if k in data}

    def loss(modules, batch):
        kind = choose_kind(batch, mix)
        clips = data[kind]
        if kind == "clips":
            inputs = generation_inputs(clips, batch, cfg.text_dropout, cfg.image_dropout)
            target = clips["video_full"][inputs.index]
            has_image = inputs.video_cond[:, -1, 0, 0, 0]
            reference = first_frame_condition(clips["image_full"][inputs.index], has_image, target.shape[2])
        else:
            inputs = edit_inputs(clips, batch, cfg.text_dropout)
            source, target = clips["source_full"][inputs.index], clips["target_full"][inputs.index]
            reference = torch.cat([source, torch.ones_like(source[:, :1])], dim=1)
        return denoising_loss(modules["upsampler"], scheduler, upsampler_inputs(inputs, target, reference, batch),
                              batch)

    def validate(modules, step, folder):
        write_generation_samples(components, fmt, folder, cfg.sample_steps, upsampler=modules["upsampler"])

    def finish(modules):
        save_components(cfg.checkpoint_path, {"upsampler": modules["upsampler"]}, fmt)

    train(cfg, Stage({"upsampler": upsampler}, loss, validate, finish), accelerator)


if __name__ == "__main__":
    main()
