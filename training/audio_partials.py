"""Stage 1d: the audio VAE's harmonic head alone, the rest of the VAE frozen.

    accelerate launch -m training.audio_partials --config training/configs/shapes.yaml

The decoder draws a tone's upper harmonics too weak and too broad although the latents carry
its waveform (README: Where timbre is lost now). The head (`AudioVAE.harmonic_head`, added here
to a VAE without one) learns each frame's partials' amplitudes from the true spectrum: on
frames holding one tone, partial k's energy around k times the strongest peak's bin, as the
amplitude of a sinusoid. Latents and the decoder stay exactly what they were.
"""

import torch

from models.audio_vae import AudioVAE
from models.partials import fundamental
from models.pipelines import load_components, save_components
from training.audio_decoder import load_audio, round_trips, sampled_latents
from training.config import parse_args
from training.data import ensure_dataset
from training.loop import Batch, Stage, make_accelerator, train

VOICED_LEVEL = 5.0  # log1p(magnitude / floor) of a frame's strongest peak in the band: a tone sounds
ONE_TONE_SHARE = 0.9  # `one_tone_share` of a frame whose partials are learned
HANN_ENERGY = 1.5  # squared magnitudes a Hann window spreads a unit sinusoid's peak over (1 + 2 * 0.5^2)
FLOOR = 1e-4  # amplitudes compared as log(a + FLOOR)


def with_harmonic_head(audio_vae: AudioVAE, partials: int) -> AudioVAE:
    """The VAE with a fresh harmonic head of `partials` partials, or as it is if it has one."""
    if audio_vae.harmonic_head is not None:
        return audio_vae
    # Without diffusers' private keys: "_use_default_values" would put partials back to 0.
    settings = {k: v for k, v in audio_vae.config.items() if not k.startswith("_")}
    grown = AudioVAE.from_config({**settings, "partials": partials})
    missing, unexpected = grown.load_state_dict(audio_vae.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("harmonic_head.") for k in missing)
    return grown


def one_tone_share(magnitude: torch.Tensor, f0: torch.Tensor, band_bins: tuple[int, int]) -> torch.Tensor:
    """(B, N) the share of each frame's energy from the band up to its third harmonics that lies
    near the tone at f0 (B, N) bins: within 3 bins of it or 6 of its third harmonic (a gliding
    partial's spread). Near 1 where one tone sounds alone."""
    lo, hi = band_bins
    bins = torch.arange(magnitude.shape[1], device=magnitude.device).view(1, -1, 1)
    energy = magnitude**2 * ((bins >= lo) & (bins < 3 * hi))
    near = ((bins - f0[:, None]).abs() <= 3) | ((bins - 3 * f0[:, None]).abs() <= 6)
    return (energy * near).sum(1) / energy.sum(1).clamp(min=1e-20)


def partial_targets(spectrum: torch.Tensor, audio_vae: AudioVAE) -> tuple[torch.Tensor, torch.Tensor]:
    """True log1p spectra (B, F, N) -> each partial's amplitude (B, K, N), and where it is known
    (B, K, N): on frames holding one sounding tone, below the top bins."""
    cfg = audio_vae.config
    lo, hi = audio_vae.fundamental_band()
    magnitude = cfg.floor_amplitude * torch.expm1(spectrum.clamp(min=0))  # (B, F, N)
    f0 = fundamental(magnitude, (lo, hi))  # (B, N) bins
    voiced = (spectrum[:, lo:hi].amax(1) > VOICED_LEVEL) & (one_tone_share(magnitude, f0, (lo, hi)) >= ONE_TONE_SHARE)
    energy = magnitude**2
    centres = torch.arange(1, cfg.partials + 1).view(1, -1, 1) * f0[:, None]  # (B, K, N)
    low = centres.floor().long()
    around = sum(energy.gather(1, (low + o).clamp(0, magnitude.shape[1] - 1)) for o in range(-3, 5))
    known = voiced[:, None] & (low + 4 < magnitude.shape[1])
    return (around / HANN_ENERGY).sqrt(), known


def main() -> None:
    cfg = parse_args("audio_partials", __doc__.splitlines()[0])
    if cfg.partials < 1:
        raise SystemExit("audio_partials needs partials (the harmonic head's partials) in its config section")
    accelerator = make_accelerator(cfg)
    components, fmt = load_components(cfg.checkpoint_path)
    with accelerator.main_process_first():
        audio = load_audio(ensure_dataset(cfg), fmt)
    audio_vae = with_harmonic_head(components["audio_vae"].float(), cfg.partials)
    audio_vae.requires_grad_(False)
    audio_vae.harmonic_head.requires_grad_(True)

    def amplitude_loss(head, spectrum, z):
        target, known = partial_targets(spectrum, audio_vae)
        error = ((head(z).float().exp() + FLOOR).log() - (target + FLOOR).log()).abs()
        return (error * known).sum() / known.sum().clamp(min=1)

    def loss(modules, batch: Batch):
        spectrum, z = sampled_latents(audio_vae, audio, batch)
        value = amplitude_loss(modules["harmonic_head"], spectrum, z)
        return value, {"partials": value.item()}

    @torch.no_grad()
    def validate(modules, step, folder):
        """The head, modules["harmonic_head"], holds the EMA weights here."""
        round_trips(audio_vae, audio, fmt, folder,
                    lambda spectrum, z: amplitude_loss(modules["harmonic_head"], spectrum, z))

    def finish(modules):
        save_components(cfg.checkpoint_path, {"audio_vae": audio_vae}, fmt)

    train(cfg, Stage({"harmonic_head": audio_vae.harmonic_head}, loss, validate, finish), accelerator)


if __name__ == "__main__":
    main()
