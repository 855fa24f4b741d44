"""A tone's partials drawn at whole multiples of one running phase (an oscillator bank).

The audio VAE's decoder blurs a tone's upper harmonics: a regression to log magnitudes cannot
place them sharply once the fundamental it reads from the latents is a little uncertain, and
the phase vocoder, advancing each partial's phase on its own, scatters them further as the
fundamental wobbles from frame to frame. Partials drawn as k times one phase keep the
waveform's shape whatever the wobble (shape-invariant synthesis, Quatieri and McAulay 1992;
the harmonic oscillators of DDSP, Engel et al. 2020). README: Where timbre is lost now.
"""

import math

import torch
import torch.nn.functional as F

FUNDAMENTAL_FRAMES = 5  # the fundamental is averaged over this many frames: its wobble, not its glide
CLEARED_BINS = 4  # the decoder's own spectrum is cleared this close to a confident partial
CONFIDENT_AMPLITUDE = 1e-3  # a partial this loud clears half of the spectrum under it


def fundamental(magnitude: torch.Tensor, band_bins: tuple[int, int]) -> torch.Tensor:
    """Magnitudes (B, F, N) -> (B, N) the strongest peak's bin within `band_bins`, interpolated
    on log magnitudes."""
    lo, hi = band_bins
    peak = magnitude[:, lo:hi].argmax(1) + lo  # (B, N)
    log_magnitude = magnitude.clamp(min=1e-12).log()
    a, b, c = (log_magnitude.gather(1, (peak + o).clamp(0, magnitude.shape[1] - 1)[:, None])[:, 0] for o in (-1, 0, 1))
    return peak + (0.5 * (a - c) / (a - 2 * b + c).clamp(max=-1e-9)).clamp(-0.5, 0.5)


def averaged(f0: torch.Tensor, frames: int = FUNDAMENTAL_FRAMES) -> torch.Tensor:
    """(B, N) per frame -> its mean over `frames` frames around each."""
    return F.avg_pool1d(F.pad(f0[:, None], (frames // 2, frames // 2), mode="replicate"), frames, 1)[:, 0]


def cleared(magnitude: torch.Tensor, f0: torch.Tensor, amplitude: torch.Tensor) -> torch.Tensor:
    """Magnitudes (B, F, N) with the bins within `CLEARED_BINS` of partial k (at k * f0 (B, N)
    bins, amplitude (B, K, N)) scaled by 1 - a / (a + CONFIDENT_AMPLITUDE): where a partial is
    drawn, the blur the decoder drew for it goes."""
    num_bins = magnitude.shape[1]
    centres = torch.arange(1, amplitude.shape[1] + 1, dtype=f0.dtype, device=f0.device)[None, :, None] * f0[:, None]
    confidence = amplitude / (amplitude + CONFIDENT_AMPLITUDE)  # (B, K, N)
    keep = torch.ones_like(magnitude)
    for offset in range(-CLEARED_BINS, CLEARED_BINS + 2):
        at = centres.floor().long() + offset  # (B, K, N)
        near = ((at - centres).abs() < CLEARED_BINS) & (at >= 0) & (at < num_bins)
        keep = keep.scatter_reduce(1, at.clamp(0, num_bins - 1), 1 - confidence * near, reduce="amin")
    return magnitude * keep


def oscillators(f0: torch.Tensor, amplitude: torch.Tensor, bin_hz: float, hop: int,
                sample_rate_hz: int) -> torch.Tensor:
    """Fundamental (B, N) in bins and partials' amplitudes (B, K, N) per frame (frame l centred
    on sample hop * l) -> (B, N * hop) waveform: partial k is a_k sin(k phase), phase the running
    integral of the fundamental, silent where k f0 passes Nyquist."""
    num_frames = f0.shape[1]
    def per_sample(x):  # (B, C, N) -> (B, C, N * hop), linear between frame centres, held past the last
        if num_frames > 1:
            x = F.interpolate(x, size=(num_frames - 1) * hop + 1, mode="linear", align_corners=True)
        return F.pad(x, (0, num_frames * hop - x.shape[-1]), mode="replicate")
    f0_hz = per_sample(f0[:, None] * bin_hz)[:, 0]  # (B, samples)
    phase = 2 * math.pi * torch.cumsum(f0_hz.double() / sample_rate_hz, 1)
    orders = torch.arange(1, amplitude.shape[1] + 1, device=f0.device)[None, :, None]  # (1, K, 1)
    audible = (orders * f0_hz[:, None] < sample_rate_hz / 2).to(amplitude.dtype)
    return (per_sample(amplitude) * audible * torch.sin(orders * phase[:, None]).to(amplitude.dtype)).sum(1)
