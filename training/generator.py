"""Stage 2: the base generator, text-to-video and image-to-video with joint audio.

    accelerate launch -m training.generator --config training/configs/shapes.yaml

Text and the first-frame image are dropped independently (`text_dropout`, `image_dropout`),
which is what classifier-free guidance and the image-to-video mode need.
"""

from models.joint_transformer import JointDenoisingTransformer
from models.noise_path import training_scheduler
from models.pipelines import save_components
from models.presets import build_transformers
from training.config import parse_args
from training.diffusion import denoising_loss, generation_inputs, load_run, write_generation_samples
from training.grow import grow
from training.loop import Stage, make_accelerator, train


def main(stage: str = "generator", description: str = __doc__.splitlines()[0], grown: bool = False) -> None:
    """Train fresh weights, or (`grown`) the run's generator so far grown to `grow_depth` blocks."""
    cfg = parse_args(stage, description)
    if grown and cfg.grow_depth < 1:
        raise SystemExit(f"{stage} needs grow_depth (the grown generator's blocks) in its config section")
    accelerator = make_accelerator(cfg)
    with accelerator.main_process_first():
        components, fmt, data = load_run(cfg, ("clips",))
    clips = data["clips"]
    scheduler = training_scheduler(components["scheduler"])
    if grown:
        if not (cfg.checkpoint_path / "transformer").is_dir():
            raise SystemExit(f"{stage} grows the run's generator, and {cfg.checkpoint_path} has none yet: "
                             "run training.generator first")
        trained = JointDenoisingTransformer.from_pretrained(cfg.checkpoint_path / "transformer", use_safetensors=True)
        transformer = grow(trained.float(), cfg.grow_depth)
    else:
        transformer, _ = build_transformers(cfg.preset, components["video_vae"], components["audio_vae"],
                                            components["text_encoder"])

    def loss(modules, batch):
        inputs = generation_inputs(clips, batch, cfg.text_dropout, cfg.image_dropout)
        return denoising_loss(modules["transformer"], scheduler, inputs, batch, cfg.foreground_weight)

    def validate(modules, step, folder):
        write_generation_samples(components, fmt, folder, cfg.sample_steps, transformer=modules["transformer"])

    def finish(modules):
        save_components(cfg.checkpoint_path, {"transformer": modules["transformer"]}, fmt)

    train(cfg, Stage({"transformer": transformer}, loss, validate, finish), accelerator)


if __name__ == "__main__":
    main()
