"""1D convolutional KL VAE for 16 kHz mono audio, built around a learned STFT.

The world's sound is a sum of periodic tones, which an overlap-added basis of windowed sinusoids
synthesises directly. So the encoder opens with a strided conv initialised as a (square-root
Hann) STFT and the decoder closes with the matching transposed conv, initialised as its exact
inverse; both stay learnable (a learned STFT / inverse STFT, as in Vocos). Between them, ConvNeXt
blocks at frame rate do the modelling, cheap because they run at 128 or 64 frames per second.
The encoder ends without a norm so loudness survives into the latent.

Compression rule (waveform `(B, 1, N)` in [-1, 1] -> latent `(B, C, ceil(N / hop))`):
- `hop = prod(strides)`; `strides[0]` is the STFT hop (window `2 * strides[0]`), the others are
  strided convs. Default `(125, 2)`: hop 250, 64 latent frames per second, 8 per video frame.
- `encode` zero-pads N at the end up to a multiple of `hop`; `decode` returns `hop * N'` samples,
  cropped to `num_samples` when given (`forward` crops back to the input's length).
- Latent frame m is centred near sample `hop * m + hop / 2`; the first and last `strides[0] / 2`
  samples lie under a single STFT window, so they are reconstructed less reliably.
"""

import math

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.models.autoencoders.vae import DecoderOutput, DiagonalGaussianDistribution
from diffusers.models.modeling_outputs import AutoencoderKLOutput
from torch import nn

# ---------------------------------------------------------------------------------------------
# Learned STFT
# ---------------------------------------------------------------------------------------------


def fourier_basis(window_length: int) -> torch.Tensor:
    """Rows w(t) cos(2 pi k (t - n/2) / n), then the same with sin, k = 0..n/2, w = sqrt(periodic Hann).

    With this window at 50% overlap, analysis then synthesis by the same rows is exact. Phases are
    measured from the window's centre, so the neighbouring bins of one tone share its phase.
    """
    t = torch.arange(window_length, dtype=torch.float64)
    window = torch.sin(math.pi * t / window_length)  # sqrt of the periodic Hann window
    k = torch.arange(window_length // 2 + 1, dtype=torch.float64)[:, None]
    angle = 2 * math.pi * k * (t - window_length / 2) / window_length
    return torch.cat([window * torch.cos(angle), window * torch.sin(angle)])  # (2K, n)


def frame_pad(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Pad so a kernel-2s, stride-s conv gives exactly L / s frames, each centred on its hop."""
    return F.pad(x, (stride // 2, stride - stride // 2))


class STFTAnalysis(nn.Module):
    """Waveform -> frames of windowed-sinusoid coefficients (window 2s, hop s)."""

    def __init__(self, stride: int):
        super().__init__()
        n = 2 * stride
        self.stride = stride
        self.conv = nn.Conv1d(1, n + 2, n, stride=stride, bias=False)
        with torch.no_grad():  # scaled to be orthonormal, so coefficients are O(1) like the input
            self.conv.weight.copy_((fourier_basis(n) * 2 / math.sqrt(n)).unsqueeze(1))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:  # (B, 1, N)
        return self.conv(frame_pad(waveform, self.stride))  # (B, 2s+2, N/s)


class STFTSynthesis(nn.Module):
    """Overlap-add of windowed sinusoids: the inverse of `STFTAnalysis` at initialisation."""

    def __init__(self, stride: int):
        super().__init__()
        n = 2 * stride
        self.stride = stride
        self.conv = nn.ConvTranspose1d(n + 2, 1, n, stride=stride, bias=False)
        bins = torch.full((n // 2 + 1,), 2.0, dtype=torch.float64)
        bins[0] = bins[-1] = 1.0  # DC and Nyquist appear once in a real signal's spectrum
        with torch.no_grad():
            weight = fourier_basis(n) * torch.cat([bins, bins])[:, None] / (2 * math.sqrt(n))
            self.conv.weight.copy_(weight.unsqueeze(1))

    def forward(self, coefficients: torch.Tensor) -> torch.Tensor:  # (B, 2s+2, L)
        s = self.stride
        waveform = self.conv(coefficients)  # (B, 1, (L+1)*s)
        return waveform[:, :, s // 2 : s // 2 + coefficients.shape[2] * s]  # (B, 1, L*s)


# ---------------------------------------------------------------------------------------------
# Frame-rate blocks
# ---------------------------------------------------------------------------------------------


class ConvNeXtBlock1d(nn.Module):
    """Depthwise conv for context, then a per-frame MLP (the Vocos backbone block).

    The branch starts scaled down (layer scale 0.1), so the untrained network is close to its
    linear skip path.
    """

    def __init__(self, channels: int, mlp_ratio: int):
        super().__init__()
        self.dwconv = nn.Conv1d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels)
        hidden = mlp_ratio * channels
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels))
        self.layer_scale = nn.Parameter(torch.full((channels,), 0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, L)
        h = self.mlp(self.norm(self.dwconv(x).transpose(1, 2))) * self.layer_scale  # (B, L, C)
        return x + h.transpose(1, 2)


class Downsample1d(nn.Module):
    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv1d(channels, channels, 2 * stride, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(frame_pad(x, self.stride))  # (B, C, L/s)


class Upsample1d(nn.Module):
    """Nearest-neighbour repeat then a symmetric conv (no transposed conv, so no checkerboards)."""

    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv1d(channels, channels, 2 * stride + 1, padding=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.repeat_interleave(self.stride, dim=2))  # (B, C, L*s)


# ---------------------------------------------------------------------------------------------
# Encoder and decoder
# ---------------------------------------------------------------------------------------------


class AudioEncoder(nn.Module):
    def __init__(self, latent_channels, strides, hidden_channels, blocks_per_stage, mlp_ratio):
        super().__init__()
        self.analysis = STFTAnalysis(strides[0])
        layers = [nn.Conv1d(2 * strides[0] + 2, hidden_channels, 1)]
        for stride in strides[1:]:
            layers.extend(ConvNeXtBlock1d(hidden_channels, mlp_ratio) for _ in range(blocks_per_stage))
            layers.append(Downsample1d(hidden_channels, stride))
        layers.extend(ConvNeXtBlock1d(hidden_channels, mlp_ratio) for _ in range(blocks_per_stage))
        layers.append(nn.Conv1d(hidden_channels, 2 * latent_channels, 1))  # no norm: it would erase loudness
        self.layers = nn.Sequential(*layers)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:  # (B, 1, N)
        return self.layers(self.analysis(waveform))  # (B, 2*C, N/hop): mean and log-variance


class AudioDecoder(nn.Module):
    """Frame-rate blocks, then a gated head: each basis coefficient is the product of two
    projections, so "loudness and phase" times "which bins" is one multiplication away."""

    def __init__(self, latent_channels, strides, hidden_channels, blocks_per_stage, mlp_ratio):
        super().__init__()
        layers = [nn.Conv1d(latent_channels, hidden_channels, 3, padding=1)]
        for stride in reversed(strides[1:]):
            layers.extend(ConvNeXtBlock1d(hidden_channels, mlp_ratio) for _ in range(blocks_per_stage))
            layers.append(Upsample1d(hidden_channels, stride))
        layers.extend(ConvNeXtBlock1d(hidden_channels, mlp_ratio) for _ in range(blocks_per_stage))
        layers.append(nn.Conv1d(hidden_channels, 2 * (2 * strides[0] + 2), 1))
        self.layers = nn.Sequential(*layers)
        self.synthesis = STFTSynthesis(strides[0])

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, C, N')
        gain, shape = self.layers(z).chunk(2, dim=1)  # 2 x (B, 2s+2, N'*hop/s)
        return self.synthesis(gain * shape)  # (B, 1, N'*hop)


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


class AudioVAE(ModelMixin, ConfigMixin):
    """KL waveform autoencoder; see the module docstring for the shape rule."""

    @register_to_config
    def __init__(
        self,
        latent_channels: int = 16,
        strides: tuple = (125, 2),
        hidden_channels: int = 128,
        blocks_per_stage: int = 2,
        mlp_ratio: int = 3,
        sample_rate_hz: int = 16_000,
        scaling_factor: float = 1.0,
        shift_factor: float = 0.0,
    ):
        super().__init__()
        if not strides or min(strides) < 1:
            raise ValueError(f"strides must be positive integers, got {strides}")
        args = (latent_channels, tuple(strides), hidden_channels, blocks_per_stage, mlp_ratio)
        self.encoder = AudioEncoder(*args)
        self.decoder = AudioDecoder(*args)

    @property
    def hop_length(self) -> int:
        """Samples per latent frame."""
        return math.prod(self.config.strides)

    @property
    def latent_rate_hz(self) -> float:
        return self.config.sample_rate_hz / self.hop_length

    def latent_length(self, num_samples: int) -> int:
        return math.ceil(num_samples / self.hop_length)

    def encode(self, waveform: torch.Tensor, return_dict: bool = True):
        """Waveform (B, 1, N) -> posterior over latents (B, C, ceil(N / hop))."""
        if waveform.ndim != 3 or waveform.shape[1] != 1:
            raise ValueError(f"expected a mono waveform (B, 1, N), got shape {tuple(waveform.shape)}")
        if waveform.shape[2] == 0:
            raise ValueError("cannot encode an empty waveform")
        waveform = F.pad(waveform, (0, -waveform.shape[2] % self.hop_length))  # (B, 1, hop*N')
        posterior = DiagonalGaussianDistribution(self.encoder(waveform))
        return AutoencoderKLOutput(latent_dist=posterior) if return_dict else (posterior,)

    def decode(self, latents: torch.Tensor, num_samples: int | None = None, return_dict: bool = True):
        """Latents (B, C, N') -> waveform (B, 1, hop * N'), cropped to `num_samples` if given."""
        if latents.ndim != 3 or latents.shape[1] != self.config.latent_channels:
            raise ValueError(f"expected latents (B, {self.config.latent_channels}, N'), "
                             f"got shape {tuple(latents.shape)}")
        waveform = self.decoder(latents)
        if num_samples is not None:
            if not 0 < num_samples <= waveform.shape[2]:
                raise ValueError(f"num_samples={num_samples} is not in 1..{waveform.shape[2]} "
                                 f"for {latents.shape[2]} latent frames")
            waveform = waveform[:, :, :num_samples]
        return DecoderOutput(sample=waveform) if return_dict else (waveform,)

    def forward(self, sample: torch.Tensor, sample_posterior: bool = False, generator: torch.Generator | None = None,
                return_dict: bool = True):
        """Encode then decode back to the input's length (posterior mean unless `sample_posterior`)."""
        posterior = self.encode(sample).latent_dist
        z = posterior.sample(generator=generator) if sample_posterior else posterior.mode()
        return self.decode(z, num_samples=sample.shape[2], return_dict=return_dict)
