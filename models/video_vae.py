"""Causal 3D convolutional VAE that turns videos into the latent grid the diffusion model works on.

Small cousin of the Movie Gen TAE / Veo-style video autoencoders: every convolution pads time
only at the front, so the latent of frame pair j never depends on later frames, and a single
image is simply a one-frame video (Movie Gen Edit trains image edits that way).

Compression rule (video `(B, 3, T, H, W)` in [-1, 1] -> latent `(B, C, T', H / f, W / f)`):
- spatial factor `f = patch_size * 2 ** (len(block_out_channels) - 1)`; H and W must be multiples;
- temporal factor `r = 2 ** temporal_down_stages` and `T' = ceil(T / r)`: the clip is padded at
  the end to a multiple of `r` by repeating its last frame (so an image encodes like a still
  two-frame video), and latent frame j summarises frames `r * j ... r * j + r - 1` and earlier;
- `decode` returns `r * T'` frames, cropped to `num_frames` when given.

The pipelines normalise latents as `(z - shift_factor) * scaling_factor`; both values live in the
config so that training can store the measured latent statistics with the weights.
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
# Causal building blocks
# ---------------------------------------------------------------------------------------------


class CausalConv3d(nn.Module):
    """3D convolution whose output frame j sees input frames up to `stride_t * (j + 1) - 1` only.

    Time is padded at the front with `kernel_t - stride_t` copies of the first frame (copies rather
    than zeros, so a still video looks still at its start); space is zero-padded symmetrically.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: tuple = (1, 1, 1)):
        super().__init__()
        if kernel_size < stride[0]:
            raise ValueError(f"temporal kernel {kernel_size} is shorter than its stride {stride[0]}")
        self.time_pad = kernel_size - stride[0]
        pad = kernel_size // 2
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size, stride=stride, padding=(0, pad, pad))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W)
        if self.time_pad:
            x = torch.cat([x[:, :, :1].expand(-1, -1, self.time_pad, -1, -1), x], dim=2)
        if x.device.type == "cpu" and x.dtype == torch.float32 and torch.backends.mkldnn.is_available():
            # PyTorch sends small batch-1 3D convs to a native kernel 5-9x slower than oneDNN.
            c = self.conv
            return torch.mkldnn_convolution(x, c.weight, c.bias, c.padding, c.stride, c.dilation, c.groups)
        return self.conv(x)


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm with statistics per frame: a clip-wide norm would leak later frames into earlier ones."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W)
        b, c, t, h, w = x.shape
        groups = x.view(b, self.num_groups, c // self.num_groups, t, h, w)
        var, mean = torch.var_mean(groups, dim=(2, 4, 5), keepdim=True, correction=0)
        x = ((groups - mean) * torch.rsqrt(var + self.eps)).view(b, c, t, h, w)
        return x * self.weight.view(1, c, 1, 1, 1) + self.bias.view(1, c, 1, 1, 1)


class ResBlock3d(nn.Module):
    """Pre-activation residual block (GroupNorm, SiLU, causal 3x3x3 conv, twice)."""

    def __init__(self, in_channels: int, out_channels: int, norm_num_groups: int):
        super().__init__()
        self.norm1 = FrameGroupNorm(norm_num_groups, in_channels)
        self.conv1 = CausalConv3d(in_channels, out_channels)
        self.norm2 = FrameGroupNorm(norm_num_groups, out_channels)
        self.conv2 = CausalConv3d(out_channels, out_channels)
        self.skip = nn.Conv3d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Upsample3d(nn.Module):
    """Nearest-neighbour upsampling then a causal conv (no transposed conv, so no checkerboards)."""

    def __init__(self, in_channels: int, out_channels: int, temporal: bool):
        super().__init__()
        self.scale = (2.0 if temporal else 1.0, 2.0, 2.0)
        self.conv = CausalConv3d(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=self.scale, mode="nearest"))


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """Fold p x p pixel patches into channels: the cheapest first downsampling (as in Cosmos)."""
    b, c, t, h, w = x.shape
    x = x.view(b, c, t, h // p, p, w // p, p).permute(0, 1, 4, 6, 2, 3, 5)
    return x.reshape(b, c * p * p, t, h // p, w // p)  # (B, C*p*p, T, H/p, W/p)


def unpatchify(x: torch.Tensor, p: int) -> torch.Tensor:
    b, cpp, t, h, w = x.shape
    x = x.view(b, cpp // (p * p), p, p, t, h, w).permute(0, 1, 4, 5, 2, 6, 3)
    return x.reshape(b, cpp // (p * p), t, h * p, w * p)  # (B, C, T, H*p, W*p)


# ---------------------------------------------------------------------------------------------
# Encoder and decoder
# ---------------------------------------------------------------------------------------------


class VideoEncoder(nn.Module):
    """Patchify, then one level per entry of `block_out_channels`; each level after the first
    begins with a downsample, the first `temporal_down_stages` of which also halve time."""

    def __init__(self, in_channels, latent_channels, patch_size, block_out_channels, layers_per_block,
                 temporal_down_stages, norm_num_groups):
        super().__init__()
        self.conv_in = CausalConv3d(in_channels * patch_size**2, block_out_channels[0])
        blocks = []
        channels = block_out_channels[0]
        for level, out_channels in enumerate(block_out_channels):
            if level > 0:  # strided causal conv: halves H and W, and T in the first temporal stages
                stride = (2 if level <= temporal_down_stages else 1, 2, 2)
                blocks.append(CausalConv3d(channels, out_channels, stride=stride))
                channels = out_channels
            blocks.extend(ResBlock3d(channels, channels, norm_num_groups) for _ in range(layers_per_block))
        blocks.append(ResBlock3d(channels, channels, norm_num_groups))
        self.blocks = nn.Sequential(*blocks)
        self.norm_out = FrameGroupNorm(norm_num_groups, channels)
        self.conv_out = CausalConv3d(channels, 2 * latent_channels)
        self.patch_size = patch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, T, H, W)
        h = self.blocks(self.conv_in(patchify(x, self.patch_size)))
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, 2*C, T', H/f, W/f): mean and log-variance


class VideoDecoder(nn.Module):
    """Mirror of the encoder: levels from deepest to shallowest, each but the last ending with an upsample."""

    def __init__(self, out_channels, latent_channels, patch_size, block_out_channels, layers_per_block,
                 temporal_down_stages, norm_num_groups):
        super().__init__()
        channels = block_out_channels[-1]
        self.conv_in = CausalConv3d(latent_channels, channels)
        blocks = [ResBlock3d(channels, channels, norm_num_groups)]
        for level in reversed(range(len(block_out_channels))):
            blocks.extend(ResBlock3d(channels, channels, norm_num_groups) for _ in range(layers_per_block))
            if level > 0:
                out = block_out_channels[level - 1]
                blocks.append(Upsample3d(channels, out, temporal=level <= temporal_down_stages))
                channels = out
        self.blocks = nn.Sequential(*blocks)
        self.norm_out = FrameGroupNorm(norm_num_groups, channels)
        self.conv_out = CausalConv3d(channels, out_channels * patch_size**2)
        self.patch_size = patch_size

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, C, T', h, w)
        h = self.blocks(self.conv_in(z))
        return unpatchify(self.conv_out(F.silu(self.norm_out(h))), self.patch_size)  # (B, 3, r*T', H, W)


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


class VideoVAE(ModelMixin, ConfigMixin):
    """KL video autoencoder, causal in time; see the module docstring for the shape rule.

    The defaults cost about 10 GFLOP to encode and decode a 16 x 64 x 64 clip (~90 ms on one CPU
    core); (64, 128) channels cost about 4x that. The causal receptive field spans about 20 frames,
    so every frame of a 16-frame clip still sees the padded clip start: train on clips as long as
    the ones it will encode, or frames past the training length come back worse.
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        latent_channels: int = 8,
        patch_size: int = 2,
        block_out_channels: tuple = (32, 64),
        layers_per_block: int = 1,
        temporal_down_stages: int = 1,
        norm_num_groups: int = 8,
        scaling_factor: float = 1.0,
        shift_factor: float = 0.0,
    ):
        super().__init__()
        if not 0 <= temporal_down_stages <= len(block_out_channels) - 1:
            raise ValueError(f"temporal_down_stages={temporal_down_stages} needs as many spatial down stages; "
                             f"block_out_channels has {len(block_out_channels) - 1}")
        args = (latent_channels, patch_size, tuple(block_out_channels), layers_per_block, temporal_down_stages,
                norm_num_groups)
        self.encoder = VideoEncoder(in_channels, *args)
        self.decoder = VideoDecoder(in_channels, *args)

    @property
    def spatial_compression(self) -> int:
        return self.config.patch_size * 2 ** (len(self.config.block_out_channels) - 1)

    @property
    def temporal_compression(self) -> int:
        return 2**self.config.temporal_down_stages

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple:
        """(C, T', H/f, W/f) of a clip of this size, for pipelines that prepare noise."""
        f = self.spatial_compression
        latent_frames = math.ceil(num_frames / self.temporal_compression)
        return (self.config.latent_channels, latent_frames, height // f, width // f)

    def encode(self, video: torch.Tensor, return_dict: bool = True):
        """Video (B, 3, T, H, W) in [-1, 1] -> posterior over latents (B, C, ceil(T / r), H/f, W/f)."""
        if video.ndim != 5 or video.shape[1] != self.config.in_channels:
            raise ValueError(f"expected a video (B, {self.config.in_channels}, T, H, W), "
                             f"got shape {tuple(video.shape)}")
        f, r = self.spatial_compression, self.temporal_compression
        if video.shape[3] % f or video.shape[4] % f:
            raise ValueError(f"frame size {tuple(video.shape[3:])} must be a multiple of the spatial compression {f}")
        if video.shape[2] == 0:
            raise ValueError("cannot encode a video with no frames")
        tail = -video.shape[2] % r
        if tail:
            video = torch.cat([video, video[:, :, -1:].expand(-1, -1, tail, -1, -1)], dim=2)  # (B, 3, r*T', H, W)
        posterior = DiagonalGaussianDistribution(self.encoder(video))
        return AutoencoderKLOutput(latent_dist=posterior) if return_dict else (posterior,)

    def decode(self, latents: torch.Tensor, num_frames: int | None = None, return_dict: bool = True):
        """Latents (B, C, T', h, w) -> video (B, 3, r * T', h*f, w*f), cropped to `num_frames` if given."""
        if latents.ndim != 5 or latents.shape[1] != self.config.latent_channels:
            raise ValueError(f"expected latents (B, {self.config.latent_channels}, T', h, w), "
                             f"got shape {tuple(latents.shape)}")
        video = self.decoder(latents)
        if num_frames is not None:
            if not 0 < num_frames <= video.shape[2]:
                raise ValueError(f"num_frames={num_frames} is not in 1..{video.shape[2]} "
                                 f"for {latents.shape[2]} latent frames")
            video = video[:, :, :num_frames]
        return DecoderOutput(sample=video) if return_dict else (video,)

    def forward(self, sample: torch.Tensor, sample_posterior: bool = False, generator: torch.Generator | None = None,
                return_dict: bool = True):
        """Encode then decode back to the input's length (posterior mean unless `sample_posterior`)."""
        posterior = self.encode(sample).latent_dist
        z = posterior.sample(generator=generator) if sample_posterior else posterior.mode()
        return self.decode(z, num_frames=sample.shape[2], return_dict=return_dict)
