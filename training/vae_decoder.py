"""Stage 1b: the video VAE's decoder alone, its encoder frozen.

    accelerate launch -m training.vae_decoder --config training/configs/shapes.yaml

The latents stay exactly what they were, so this can run before or after the transformers
without retraining them (a later stage re-encodes its latent cache, which is keyed on the VAE's
files, and gets the same latents). It exists because the VAE stage ended with a decoder that
drew small triangles and squares as circles although its latents told them apart; trained on
alone, the decoder learned to draw them (README, "Where the quality is lost"). Whole clips at
the full frame size only, the size the cascade decodes.
"""

import torch

from models.pipelines import load_components, save_components
from models.pipelines.studio_pipeline import frames_to_tensor
from training.config import parse_args
from training.data import ensure_dataset
from training.loop import Batch, Stage, make_accelerator, train
from training.vae import load_pixels, object_weights, write_reconstructions


def main() -> None:
    cfg = parse_args("vae_decoder", __doc__.splitlines()[0])
    accelerator = make_accelerator(cfg)
    components, fmt = load_components(cfg.checkpoint_path)
    with accelerator.main_process_first():
        frames, audio = load_pixels(ensure_dataset(cfg), fmt)
    video_vae = components["video_vae"].float()
    video_vae.encoder.requires_grad_(False)

    def loss(modules, batch: Batch):
        g = batch.generator
        index = batch.take(torch.randint(0, len(frames), (batch.global_size,), generator=g))
        video = frames_to_tensor(frames[index.numpy()], fmt["size"])  # (B, 3, T, H, W)
        out = modules["video_vae"](video, sample_posterior=True, generator=g).sample
        rec = (object_weights(video) * (out.float() - video).abs()).mean()
        return rec, {"video": rec.item()}

    def validate(modules, step, folder):
        write_reconstructions(modules["video_vae"], components["audio_vae"], frames, audio, fmt, folder)

    def finish(modules):
        save_components(cfg.checkpoint_path, {"video_vae": modules["video_vae"]}, fmt)

    train(cfg, Stage({"video_vae": video_vae}, loss, validate, finish), accelerator)


if __name__ == "__main__":
    main()
