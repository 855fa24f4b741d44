"""The peers `studio.bench` times Flipbook against, built only for the benchmark.

1. The seed article's reference sampler ("Google Veo 3 Implemented from Scratch", its
   `JointDenoisingTransformer` and `generate_content`), re-implemented as written there: a DiT
   of width 256, depth 4, 4 heads (`nn.MultiheadAttention`, adaLN, MLP 4x, learned positions),
   video patches (2, 2, 2) over a 4-channel latent at 1/2 time and 1/8 space, audio patches of
   16 over a 16-channel latent at 1/32 of the sample rate, a pooled 768-wide text vector added
   to the timestep embedding, the upsampler's low-resolution latent as extra tokens, and
   DDPM (1000 linear-beta steps, sampled with 50 per stage, no guidance), then the seed's
   VAE decoders. Its clip is ours (16 frames at 32 px, upsampled to 64 px, 2 s of 16 kHz
   audio), the seed's own sizes. Its CLIP-L text encoder is left out (it cannot be
   downloaded here), which only flatters the seed.
2. A `diffusers` video transformer, `CogVideoXTransformer3DModel`: full 3D attention over
   text and video tokens, the closest peer to our joint attention (Latte factorises space and
   time). It is given our width, depth and heads and as many denoised tokens as our base
   denoiser sees (video + audio), with the conditioning latent on channels as CogVideoX-I2V does.
"""

import math

import torch
from diffusers import CogVideoXTransformer3DModel, DDPMScheduler
from torch import nn

from models.joint_transformer import JointDenoisingTransformer

SEED_WIDTH, SEED_DEPTH, SEED_HEADS = 256, 4, 4
SEED_TEXT_DIM = 768  # CLIP ViT-L/14 text features
SEED_VIDEO_CHANNELS, SEED_AUDIO_CHANNELS = 4, 16
SEED_VIDEO_PATCH = (2, 2, 2)  # (frames, height, width)
SEED_AUDIO_PATCH = 16
SEED_AUDIO_HOP = 32  # the seed's audio VAE: strides 8 x 4
SEED_TRAIN_TIMESTEPS = 1000
SEED_STEPS = 50


# ---------------------------------------------------------------- the seed's DiT

def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class SeedBlock(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 4), nn.GELU(), nn.Linear(dim * 4, dim))
        self.ada_ln = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(self, x, c):
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada_ln(c).chunk(6, dim=1)
        # As in the seed: the modulated tokens query, the unmodulated ones are keys and values.
        x = x + gate1.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift1, scale1), x, x)[0]
        return x + gate2.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift2, scale2))


class SeedFinalLayer(nn.Module):
    def __init__(self, dim: int, out_features: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, out_features)
        self.ada_ln = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x, c):
        shift, scale = self.ada_ln(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm(x), shift, scale))


class SeedTimestepEmbedding(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 4), nn.SiLU(), nn.Linear(dim * 4, dim * 4))

    def forward(self, t):  # (B,)
        half = self.dim // 2
        freqs = torch.exp(torch.arange(half) * -(math.log(10000.0) / (half - 1)))
        angles = t.float()[:, None] * freqs[None]
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=1))  # (B, 4 * dim)


def patch_count(grid: tuple) -> int:
    return math.prod(n // p for n, p in zip(grid, SEED_VIDEO_PATCH))


class SeedDenoiser(nn.Module):
    """The seed's JointDenoisingTransformer for one stage (base, or upsampler when
    `low_res_grid` is given), with its token layout: [low-res token, low-res patches,]
    video token, video patches, audio token, audio patches."""

    def __init__(self, video_grid: tuple, audio_length: int, low_res_grid: tuple | None = None):
        super().__init__()
        dim, pf, ph, pw = SEED_WIDTH, *SEED_VIDEO_PATCH
        self.video_grid, self.low_res = video_grid, low_res_grid is not None
        self.t_embed = nn.Sequential(SeedTimestepEmbedding(dim), nn.Linear(dim * 4, dim))
        self.c_embed = nn.Linear(SEED_TEXT_DIM, dim)
        self.video_patcher = nn.Conv3d(SEED_VIDEO_CHANNELS, dim, SEED_VIDEO_PATCH, stride=SEED_VIDEO_PATCH)
        self.audio_patcher = nn.Conv1d(SEED_AUDIO_CHANNELS, dim, SEED_AUDIO_PATCH, stride=SEED_AUDIO_PATCH)
        self.video_token, self.audio_token = nn.Parameter(torch.randn(1, 1, dim)), nn.Parameter(torch.randn(1, 1, dim))
        self.num_video, self.num_audio = patch_count(video_grid), audio_length // SEED_AUDIO_PATCH
        num_tokens = self.num_video + self.num_audio + 2
        if self.low_res:
            self.low_res_patcher = nn.Conv3d(SEED_VIDEO_CHANNELS, dim, SEED_VIDEO_PATCH, stride=SEED_VIDEO_PATCH)
            self.low_res_token = nn.Parameter(torch.randn(1, 1, dim))
            self.num_low_res = patch_count(low_res_grid)
            num_tokens += self.num_low_res + 1
        self.num_tokens = num_tokens
        self.pos_embed = nn.Parameter(torch.randn(1, num_tokens, dim))
        self.blocks = nn.ModuleList(SeedBlock(dim, SEED_HEADS) for _ in range(SEED_DEPTH))
        self.final_video = SeedFinalLayer(dim, pf * ph * pw * SEED_VIDEO_CHANNELS)
        self.final_audio = SeedFinalLayer(dim, SEED_AUDIO_PATCH * SEED_AUDIO_CHANNELS)

    def forward(self, video, audio, t, context, low_res_video=None):  # (B, 4, F, H, W), (B, 16, N), (B,), (B, 768)
        b = video.shape[0]
        c = self.t_embed(t) + self.c_embed(context)
        tokens = [self.video_token.expand(b, -1, -1), self.video_patcher(video).flatten(2).transpose(1, 2),
                  self.audio_token.expand(b, -1, -1), self.audio_patcher(audio).transpose(1, 2)]
        if self.low_res:
            tokens = [self.low_res_token.expand(b, -1, -1),
                      self.low_res_patcher(low_res_video).flatten(2).transpose(1, 2)] + tokens
        x = torch.cat(tokens, dim=1) + self.pos_embed  # (B, N, D)
        for block in self.blocks:
            x = block(x, c)
        start = 1 + (1 + self.num_low_res if self.low_res else 0)
        video_out = self.final_video(x[:, start:start + self.num_video], c)
        pf, ph, pw = SEED_VIDEO_PATCH
        f, h, w = (n // p for n, p in zip(self.video_grid, SEED_VIDEO_PATCH))
        video_out = video_out.reshape(b, f, h, w, pf, ph, pw, SEED_VIDEO_CHANNELS)
        video_out = video_out.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(video.shape)
        audio_start = start + self.num_video + 1
        audio_out = self.final_audio(x[:, audio_start:audio_start + self.num_audio], c)
        audio_out = audio_out.reshape(b, self.num_audio, SEED_AUDIO_PATCH, SEED_AUDIO_CHANNELS)
        audio_out = audio_out.permute(0, 3, 1, 2).reshape(b, SEED_AUDIO_CHANNELS, -1)
        if audio_out.shape[-1] != audio.shape[-1]:
            audio_out = nn.functional.interpolate(audio_out, size=audio.shape[-1], mode="linear", align_corners=False)
        return video_out, audio_out


def seed_decoders() -> tuple[nn.Module, nn.Module]:
    """The seed's VideoVAE and AudioVAE decoders."""
    video = nn.Sequential(
        nn.ConvTranspose3d(SEED_VIDEO_CHANNELS, 128, 3, stride=1, padding=1), nn.SiLU(),
        nn.ConvTranspose3d(128, 64, 3, stride=(1, 2, 2), padding=1, output_padding=(0, 1, 1)), nn.SiLU(),
        nn.ConvTranspose3d(64, 32, 3, stride=(1, 2, 2), padding=1, output_padding=(0, 1, 1)), nn.SiLU(),
        nn.ConvTranspose3d(32, 3, 3, stride=(2, 2, 2), padding=1, output_padding=1), nn.Sigmoid())
    audio = nn.Sequential(
        nn.ConvTranspose1d(SEED_AUDIO_CHANNELS, 16, 32, stride=4, padding=14), nn.SiLU(),
        nn.ConvTranspose1d(16, 1, 32, stride=8, padding=12), nn.Tanh())
    return video, audio


class SeedReferenceSampler:
    """The seed's cascade at our clip size: base denoiser, upsampler, decoders."""

    def __init__(self, clip_format: dict, steps: int = SEED_STEPS):
        frames = clip_format["num_frames"] // 2
        self.base_grid = (frames, clip_format["base_size"] // 8, clip_format["base_size"] // 8)
        self.full_grid = (frames, clip_format["size"] // 8, clip_format["size"] // 8)
        self.audio_length = clip_format["num_samples"] // SEED_AUDIO_HOP
        self.steps = steps
        self.base = SeedDenoiser(self.base_grid, self.audio_length).eval()
        self.upsampler = SeedDenoiser(self.full_grid, self.audio_length, low_res_grid=self.base_grid).eval()
        self.video_decoder, self.audio_decoder = (m.eval() for m in seed_decoders())
        self.scheduler = DDPMScheduler(num_train_timesteps=SEED_TRAIN_TIMESTEPS, beta_schedule="linear")

    @property
    def tokens(self) -> tuple[int, int]:
        """(base, upsampler) sequence lengths."""
        return self.base.num_tokens, self.upsampler.num_tokens

    @torch.no_grad()
    def sample_base(self, context: torch.Tensor):
        video = torch.randn(1, SEED_VIDEO_CHANNELS, *self.base_grid)
        audio = torch.randn(1, SEED_AUDIO_CHANNELS, self.audio_length)
        self.scheduler.set_timesteps(self.steps)
        for t in self.scheduler.timesteps:
            v_noise, a_noise = self.base(video, audio, t[None], context)
            video = self.scheduler.step(v_noise, t, video).prev_sample
            audio = self.scheduler.step(a_noise, t, audio).prev_sample
        return video, audio

    @torch.no_grad()
    def sample_upsampler(self, context: torch.Tensor, base_video: torch.Tensor, audio: torch.Tensor):
        video = torch.randn(1, SEED_VIDEO_CHANNELS, *self.full_grid)
        silent = torch.zeros_like(audio)
        self.scheduler.set_timesteps(self.steps)
        for t in self.scheduler.timesteps:
            v_noise, _ = self.upsampler(video, silent, t[None], context, low_res_video=base_video)
            video = self.scheduler.step(v_noise, t, video).prev_sample
        return video

    @torch.no_grad()
    def decode(self, video: torch.Tensor, audio: torch.Tensor):
        return self.video_decoder(video), self.audio_decoder(audio)


# ---------------------------------------------------------------- the diffusers peer

def cogvideox_peer(transformer: JointDenoisingTransformer, num_tokens: int, latent_shape: tuple,
                   num_context_tokens: int) -> tuple[CogVideoXTransformer3DModel, tuple]:
    """A CogVideoX transformer of `transformer`'s width, depth and heads whose video grid holds
    `num_tokens` denoised tokens (frames added to the latent's h x w grid), and the latent
    shape (F, C, H, W) it takes. Returns (model, latent shape)."""
    cfg = transformer.config
    _, h, w = latent_shape[-3:]
    ph = cfg.patch_size[1]
    frames = max(1, round(num_tokens / ((h // ph) * (w // ph))))
    in_channels = cfg.video_channels + cfg.video_cond_channels
    model = CogVideoXTransformer3DModel(
        num_attention_heads=cfg.num_heads, attention_head_dim=cfg.hidden_size // cfg.num_heads,
        in_channels=in_channels, out_channels=cfg.video_channels, time_embed_dim=cfg.hidden_size,
        text_embed_dim=cfg.text_dim, num_layers=cfg.depth, sample_width=w, sample_height=h, sample_frames=frames,
        patch_size=ph, temporal_compression_ratio=1, max_text_seq_length=num_context_tokens,
    ).eval()
    return model, (frames, in_channels, h, w)


def peer_token_count(latent_shape: tuple, patch_size: int) -> int:
    frames, _, h, w = latent_shape
    return frames * (h // patch_size) * (w // patch_size)


def random_context(batch: int, generator: torch.Generator) -> torch.Tensor:
    """A stand-in for the seed's pooled CLIP text vector (B, 768)."""
    return torch.randn(batch, SEED_TEXT_DIM, generator=generator)


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
