"""Stage 1: the video VAE and the audio VAE, trained together on the dataset's clips.

    accelerate launch -m training.vae --config training/configs/shapes.yaml
    python -m training.vae --config training/configs/tiny.yaml --max-steps 4

Video batches alternate between the base and full frame size (the cascade encodes both) and
sometimes are single frames (images are one-frame videos). At the end the latents' mean and
spread set each VAE's shift and scaling factors, and both VAEs, the text encoder reference and
the scheduler start the run's checkpoint.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.pipelines.studio_pipeline import encode_audio, encode_video, frames_to_tensor, save_components
from models.presets import build_components
from studio import media
from training.config import parse_args
from training.data import clip_paths, ensure_dataset, read_clip, read_records
from training.loop import Batch, Stage, make_accelerator, train
from training.losses import kl_loss

MAX_CLIPS = 1024  # pixel clips held in memory for this stage
IMAGE_PROBABILITY = 0.15
AUDIO_CROPS_PER_CLIP = 32  # audio is cheap next to video: many short windows (the VAE sees +-3 frames)
CROP_SAMPLES = 8_000
OBJECT_WEIGHT = 20.0


class VAEPair(nn.Module):
    """Both VAEs behind one forward, so distributed training syncs their gradients."""

    def __init__(self, video_vae, audio_vae):
        super().__init__()
        self.video_vae, self.audio_vae = video_vae, audio_vae

    def forward(self, video, audio, generator):  # (B, 3, T, H, W), (B, 1, N)
        video_posterior = self.video_vae.encode(video).latent_dist
        z = video_posterior.mean + video_posterior.std * torch.randn(video_posterior.mean.shape, generator=generator)
        video_out = self.video_vae.decode(z, num_frames=video.shape[2]).sample
        spectrum = self.audio_vae.spectrum(audio)  # (B, F, N / hop): the audio VAE's loss is on log magnitudes
        audio_posterior = self.audio_vae.encode_spectrum(spectrum)
        za = audio_posterior.mean + audio_posterior.std * torch.randn(audio_posterior.mean.shape, generator=generator)
        return video_out, video_posterior, self.audio_vae.decode_spectrum(za), spectrum, audio_posterior


def object_weights(video: torch.Tensor) -> torch.Tensor:
    """Per-pixel loss weights (B, 1, T, H, W): objects cover a few percent of a frame, so a
    plain mean lets the VAE blur them into blobs; pixels away from the frame's background
    colour (its median) count OBJECT_WEIGHT times more."""
    background = video.flatten(3).median(dim=-1).values[..., None, None]  # (B, 3, T, 1, 1)
    away = (video - background).abs().amax(dim=1, keepdim=True) > 0.1
    return 1 + OBJECT_WEIGHT * away.float()


def vae_loss(pair: VAEPair, video: torch.Tensor, wave: torch.Tensor, generator: torch.Generator,
             kl_weight: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The stage's loss (and its parts): object-weighted L1 on pixels, L1 on the audio's log
    magnitudes, and both posteriors' KL."""
    video_out, vp, spectrum_out, spectrum, ap = pair(video, wave, generator)
    video_rec = (object_weights(video) * (video_out - video).abs()).mean()
    audio_rec = F.l1_loss(spectrum_out, spectrum)
    kl = kl_loss(vp.mean, vp.logvar) + kl_loss(ap.mean, ap.logvar)
    return video_rec + audio_rec + kl_weight * kl, {"video": video_rec, "audio": audio_rec, "kl": kl}


@torch.no_grad()
def write_reconstructions(video_vae, audio_vae, frames: np.ndarray, audio: np.ndarray, fmt: dict, folder) -> None:
    """The first two clips beside their round trips through both VAEs, and the video's PSNR,
    for people to watch the VAEs learn."""
    video = frames_to_tensor(frames[:2], fmt["size"])
    out = video_vae(video).sample
    wave = audio_vae(torch.from_numpy(audio[:2])[:, None]).sample[:, 0]
    psnr = 10 * torch.log10(4 / F.mse_loss(out.clamp(-1, 1), video)).item()
    folder.mkdir(parents=True, exist_ok=True)
    decoded = ((out.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 4, 1).numpy()
    for i in range(2):
        media.write_video(folder / f"reconstruction_{i}.mp4",
                          media.Clip(np.concatenate([frames[i], decoded[i]], axis=2), wave[i].numpy(),
                                     fmt["fps"], fmt["sample_rate_hz"]), display_scale=4)
    (folder / "psnr.txt").write_text(f"{psnr:.2f}\n")


def load_pixels(dataset, fmt: dict) -> tuple[np.ndarray, np.ndarray]:
    """(N, T, H, W, 3) uint8 frames and (N, samples) audio of up to MAX_CLIPS clips."""
    records = read_records(dataset, ("t2v", "i2v", "edit"))[:MAX_CLIPS]
    clips = [read_clip(dataset, *clip_paths(r), fmt) for r in records]
    return np.stack([c[0] for c in clips]), np.stack([c[1] for c in clips])


def main() -> None:
    cfg = parse_args("vae", __doc__.splitlines()[0])
    accelerator = make_accelerator(cfg)
    with accelerator.main_process_first():
        dataset = ensure_dataset(cfg)
    components, fmt = build_components(cfg.preset)
    frames, audio = load_pixels(dataset, fmt)
    pair = VAEPair(components["video_vae"], components["audio_vae"])
    hop = pair.audio_vae.config.hop_length

    def loss(modules, batch: Batch):
        g = batch.generator
        index = batch.take(torch.randint(0, len(frames), (batch.global_size,), generator=g))
        size = fmt["base_size"] if batch.step % 2 else fmt["size"]
        # Whole clips: the causal receptive field spans ~20 frames, so shorter windows would
        # never show the VAE a late frame with its full past.
        num_frames = 1 if torch.rand((), generator=g) < IMAGE_PROBABILITY else frames.shape[1]
        video = frames_to_tensor(frames[index.numpy(), :num_frames], size)
        crops = (batch.global_size, AUDIO_CROPS_PER_CLIP)
        audio_index = batch.take(torch.randint(0, len(audio), crops, generator=g)).flatten()
        offsets = hop * batch.take(torch.randint(0, (audio.shape[1] - CROP_SAMPLES) // hop + 1, crops,
                                                 generator=g)).flatten()
        wave = torch.from_numpy(np.stack([audio[i, o:o + CROP_SAMPLES] for i, o in
                                          zip(audio_index.tolist(), offsets.tolist())]))[:, None]
        total, parts = vae_loss(modules["vaes"], video, wave, g, cfg.kl_weight)
        return total, {name: part.item() for name, part in parts.items()}

    def validate(modules, step, folder):
        write_reconstructions(modules["vaes"].video_vae, modules["vaes"].audio_vae, frames, audio, fmt, folder)

    def finish(modules):
        vaes = modules["vaes"]
        with torch.no_grad():
            sample = frames[: min(len(frames), 128)]
            z = vaes.video_vae.encode(frames_to_tensor(sample, fmt["base_size"])).latent_dist.mode()
            za = vaes.audio_vae.encode(torch.from_numpy(audio[: len(sample)])[:, None]).latent_dist.mode()
        for vae, latents in ((vaes.video_vae, z), (vaes.audio_vae, za)):
            vae.register_to_config(shift_factor=latents.mean().item(), scaling_factor=1.0 / latents.std().item())
        keep = {"text_encoder": components["text_encoder"], "scheduler": components["scheduler"],
                "video_vae": vaes.video_vae, "audio_vae": vaes.audio_vae}
        save_components(cfg.checkpoint_path, keep, fmt)
        check = encode_video(vaes.video_vae, frames_to_tensor(sample[:16], fmt["base_size"]))
        check_audio = encode_audio(vaes.audio_vae, audio[:16])
        print(f"normalised latents: video std {check.std():.3f} mean {check.mean():.3f}; "
              f"audio std {check_audio.std():.3f} mean {check_audio.mean():.3f}")

    train(cfg, Stage({"vaes": pair}, loss, validate, finish), accelerator)


if __name__ == "__main__":
    main()
