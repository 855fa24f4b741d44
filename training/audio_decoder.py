"""Stage 1c: the audio VAE's decoder alone, its encoder frozen, with the loss on the tones' partials.

    accelerate launch -m training.audio_decoder --config training/configs/shapes.yaml

Like `vae_decoder` for video, the latents stay exactly what they were, so this can run after
the transformers without retraining them. It exists because plain L1 on log magnitudes let the
decoder drop a tone's upper harmonics: a partial's few bins weigh nothing next to the thousand
near-silent ones, and where the decoder is unsure of a peak's bin, L1's best guess is no peak.
Without its third and fifth harmonics a triangle wave is heard as a sine, a square as a
triangle (README, "Where the quality is lost"). Here bins where the true spectrum stands above
the floor count PARTIAL_WEIGHT times more. Whole clips, as the studio decodes them.
"""

import numpy as np
import torch
import torch.nn.functional as F

from models.pipelines import load_components, save_components
from studio import media
from training.config import parse_args
from training.data import clip_paths, ensure_dataset, read_audio, read_records
from training.loop import Batch, Stage, make_accelerator, train

MAX_CLIPS = 4096  # clips' sound held in memory for this stage (about 0.5 GB of 2-s clips)
PARTIAL_LEVEL = 1.0  # log1p(magnitude / floor): a bin above 1.7x the floor holds part of a tone
PARTIAL_WEIGHT = 20.0


def partial_weighted_l1(decoded: torch.Tensor, spectrum: torch.Tensor) -> torch.Tensor:
    """L1 between log magnitudes (B, F, N'), bins of a partial weighted PARTIAL_WEIGHT times,
    divided by the mean weight so the loss keeps plain L1's scale (and learning rate)."""
    weight = 1 + PARTIAL_WEIGHT * (spectrum > PARTIAL_LEVEL).float()
    return (weight * (decoded.float() - spectrum).abs()).mean() / weight.mean()


def load_audio(dataset, fmt: dict) -> np.ndarray:
    """(N, samples) float32: the sound of the dataset's clips and edit targets, up to MAX_CLIPS."""
    records = read_records(dataset, ("t2v", "i2v", "edit"))[:MAX_CLIPS]
    return np.stack([read_audio(dataset, *clip_paths(r), fmt) for r in records])


def sampled_latents(audio_vae, audio: np.ndarray, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of random clips' true log magnitudes (B, F, N') and latents (B, C, N') drawn from
    their posteriors, the encoder untouched by gradients."""
    g = batch.generator
    index = batch.take(torch.randint(0, len(audio), (batch.global_size,), generator=g))
    hop = audio_vae.config.hop_length
    wave = F.pad(torch.from_numpy(audio[index.numpy()])[:, None], (0, -audio.shape[1] % hop))  # (B, 1, hop*N')
    with torch.no_grad():
        spectrum = audio_vae.spectrum(wave)
        posterior = audio_vae.encode_spectrum(spectrum)
        return spectrum, posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=g)


def round_trips(audio_vae, audio, fmt: dict, folder, loss_of) -> None:
    """The first two clips' round trips through `audio_vae` as wav files in `folder`, and
    `loss_of(spectrum, latents)` on them in its loss.txt."""
    hop = audio_vae.config.hop_length
    spectrum = audio_vae.spectrum(F.pad(torch.from_numpy(audio[:2])[:, None], (0, -audio.shape[1] % hop)))
    z = audio_vae.encode_spectrum(spectrum).mode()
    decoded = audio_vae.decode(z, num_samples=audio.shape[1]).sample[:, 0]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(2):
        media.write_wav(folder / f"reconstruction_{i}.wav", decoded[i].numpy(), fmt["sample_rate_hz"])
    (folder / "loss.txt").write_text(f"{loss_of(spectrum, z).item():.4f}\n")


def main() -> None:
    cfg = parse_args("audio_decoder", __doc__.splitlines()[0])
    accelerator = make_accelerator(cfg)
    components, fmt = load_components(cfg.checkpoint_path)
    with accelerator.main_process_first():
        audio = load_audio(ensure_dataset(cfg), fmt)
    audio_vae = components["audio_vae"].float()
    audio_vae.encoder.requires_grad_(False)

    def loss(modules, batch: Batch):
        spectrum, z = sampled_latents(audio_vae, audio, batch)
        rec = partial_weighted_l1(modules["decoder"](z), spectrum)
        return rec, {"audio": rec.item()}

    @torch.no_grad()
    def validate(modules, step, folder):
        """The decoder, modules["decoder"], holds the EMA weights here."""
        round_trips(audio_vae, audio, fmt, folder,
                    lambda spectrum, z: partial_weighted_l1(audio_vae.decode_spectrum(z), spectrum))

    def finish(modules):
        save_components(cfg.checkpoint_path, {"audio_vae": audio_vae}, fmt)

    # Only the decoder is a trained module: its forward is what autocast and DDP wrap.
    train(cfg, Stage({"decoder": audio_vae.decoder}, loss, validate, finish), accelerator)


if __name__ == "__main__":
    main()
