"""JointDenoisingTransformer: one DiT that denoises video and audio latents together.

Video latent patches and audio latent patches form one token sequence (Veo 3-style joint
generation), told apart by modality embeddings and placed by 3D rotary positions whose time
axis is shared, so an audio token and the video tokens of the same instant are close.
Conditioning, following Movie Gen Edit / InstructPix2Pix: a conditioning video latent (blank,
a first-frame image with its mask, a source video, or the base latent for the upsampler) and a
source audio latent enter through zero-initialised patch embedders, so a text-to-video model
is unchanged until it learns to use them; a learned task embedding becomes extra context
tokens and is added to the timestep embedding.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.utils import BaseOutput
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from studio.world.spec import TASKS


@dataclass
class JointTransformerOutput(BaseOutput):
    video: torch.Tensor  # (B, C, T, H, W)
    audio: torch.Tensor | None = None  # (B, Ca, N); None for video-only passes


@dataclass
class TextContext:
    """The text and task tokens as the blocks' cross-attention reads them. They do not change
    over a sampling loop, so pipelines compute them once per loop (`text_context`) instead of
    at every step (4 % of a generator forward)."""
    keys_values: list[tuple[torch.Tensor, torch.Tensor]]  # per block: keys, values (B, L, heads, Dh)
    mask: torch.Tensor  # (B, 1, 1, L) bool, True = a real token


# ---------------------------------------------------------------- rotary positions

def rope_rotation(positions: torch.Tensor, head_dim: int, theta: float) -> torch.Tensor:
    """Unit complex rotations (N, 1, head_dim // 2) for positions (N, 3) on axes (time, y, x);
    each axis gets a third of the rotary pairs, so any frame count and size works. Computed
    once per forward and shared by every block."""
    pairs = head_dim // 2
    per_axis = [pairs - 2 * (pairs // 3), pairs // 3, pairs // 3]
    angles = []
    for axis, n in enumerate(per_axis):
        freqs = theta ** (-torch.arange(n, dtype=torch.float32, device=positions.device) / max(n, 1))
        angles.append(positions[:, axis, None].float() * freqs)
    angles = torch.cat(angles, dim=-1)[:, None]  # one rotation for every head
    return torch.polar(torch.ones_like(angles), angles)


def apply_rope(x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive pairs of x (B, N, heads, head_dim), as complex numbers, by `rotation`."""
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))
    return torch.view_as_real(pairs * rotation).flatten(-2).type_as(x)


# ---------------------------------------------------------------- blocks

SHORT_ATTENTION = 256 * 256  # query length x key length up to which CPU training uses the math kernel


def attention(q, k, v, mask=None):
    """Scaled dot-product attention on (B, heads, N, Dh). Training on a CPU with short sequences
    takes the math kernel: there CPU flash attention's backward is the slower one (measured per
    training step: 7 % at 160 video/audio tokens, 10 % for edits; flash stays 18 % faster at the
    upsampler's 512, and at least as fast for every forward-only call)."""
    if q.device.type == "cpu" and torch.is_grad_enabled() and q.shape[-2] * k.shape[-2] <= SHORT_ATTENTION:
        with sdpa_kernel(SDPBackend.MATH):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


class RMSNorm(nn.RMSNorm):
    """nn.RMSNorm that casts its weight to the input's dtype: under bf16 autocast the input is
    bf16 and a float weight would force the slow, unfused kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, self.normalized_shape, self.weight.to(x.dtype), self.eps)


class PatchEmbed1d(nn.Conv1d):
    """Audio latents (B, C, N) -> tokens (B, N / p, D): a Conv1d whose kernel is its stride,
    computed as one matmul over the patches with the same weights. On an AMX CPU here oneDNN's
    bf16 Conv1d with stride 4 and 16 input channels returned wrong values (errors as large as
    the outputs; stride 1 and the video's Conv3d were right), which broke every bf16 forward's
    audio."""

    def __init__(self, in_channels: int, out_channels: int, patch_size: int):
        super().__init__(in_channels, out_channels, patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = x.unflatten(-1, (-1, self.stride[0])).transpose(1, 2).flatten(2)  # (B, N/p, C*p)
        return F.linear(patches, self.weight.flatten(1), self.bias)


class Attention(nn.Module):
    """Multi-head attention with RMS-normalised queries and keys (stable in bf16)."""

    def __init__(self, dim: int, num_heads: int, context_dim: int | None = None):
        super().__init__()
        self.num_heads = num_heads
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(context_dim or dim, 2 * dim)
        self.norm_q = RMSNorm(dim // num_heads, eps=1e-6)
        self.norm_k = RMSNorm(dim // num_heads, eps=1e-6)
        self.to_out = nn.Linear(dim, dim)

    def keys_values(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised keys and the values (B, L, heads, Dh) of `context` (B, L, D)."""
        k, v = self.to_kv(context).unflatten(-1, (2, self.num_heads, -1)).unbind(2)
        return self.norm_k(k), v

    def forward(self, x, keys_values=None, rotation=None, mask=None):
        """Self-attention over x, or cross-attention to `keys_values` from `self.keys_values`."""
        q = self.norm_q(self.to_q(x).unflatten(-1, (self.num_heads, -1)))  # (B, N, heads, Dh)
        k, v = self.keys_values(x) if keys_values is None else keys_values
        if rotation is not None:  # normalised and rotated token-major: fewer copies
            q, k = apply_rope(q, rotation), apply_rope(k, rotation)
        out = attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), mask)
        return self.to_out(out.transpose(1, 2).flatten(2))


def modulate(x, shift, scale):
    return torch.addcmul(shift[:, None], x, 1 + scale[:, None])  # multiply and add in one kernel


class JointBlock(nn.Module):
    """Self-attention over all video and audio tokens, cross-attention to text and task
    tokens, MLP; adaLN-Zero from the conditioning vector."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.cross_attn = Attention(dim, num_heads)
        self.norm3 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        # Exact GELU: on a CPU the tanh approximation's kernel is about 5x slower (160 against 30 us
        # on the sampling batch's MLP activations), and the two differ by less than 5e-4.
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.ada_ln = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.ada_ln[1].weight)
        nn.init.zeros_(self.ada_ln[1].bias)

    def forward(self, x, c, context_keys_values, rotation, context_mask):
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada_ln(c).chunk(6, dim=-1)
        attended = self.attn(modulate(self.norm1(x), shift1, scale1), rotation=rotation)
        x = torch.addcmul(x, gate1[:, None], attended)
        x = x + self.cross_attn(self.norm2(x), keys_values=context_keys_values, mask=context_mask)
        return torch.addcmul(x, gate2[:, None], self.mlp(modulate(self.norm3(x), shift2, scale2)))


class FinalLayer(nn.Module):
    def __init__(self, dim: int, out_features: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada_ln = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.linear = nn.Linear(dim, out_features)
        for layer in (self.ada_ln[1], self.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x, c):
        shift, scale = self.ada_ln(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))


def zero_module(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


# ---------------------------------------------------------------- the model

class JointDenoisingTransformer(ModelMixin, ConfigMixin):
    """Predicts the flow-matching velocity (or the scheduler's target) for video and audio
    latents. With `audio_channels=0` it is video-only (the cascade's upsampler, whose
    conditioning video is the upsampled base latent)."""

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        video_channels: int = 8,
        video_cond_channels: int = 9,  # conditioning latent + a mask channel
        audio_channels: int = 8,
        audio_cond_channels: int = 8,
        patch_size: tuple[int, int, int] = (1, 2, 2),  # (t, h, w) latent cells per token
        audio_patch_size: int = 4,  # audio latent frames per token
        hidden_size: int = 256,
        depth: int = 8,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        text_dim: int = 384,
        pooled_text_dim: int = 384,
        task_names: tuple[str, ...] = TASKS,
        num_task_tokens: int = 4,
        rope_theta: float = 1000.0,
    ):
        super().__init__()
        patch_size = tuple(patch_size)
        self.video_embed = nn.Conv3d(video_channels, hidden_size, patch_size, stride=patch_size)
        self.video_cond_embed = zero_module(nn.Conv3d(video_cond_channels, hidden_size, patch_size, stride=patch_size))
        if audio_channels:
            self.audio_embed = PatchEmbed1d(audio_channels, hidden_size, audio_patch_size)
            self.audio_cond_embed = zero_module(PatchEmbed1d(audio_cond_channels, hidden_size, audio_patch_size))
            self.audio_final = FinalLayer(hidden_size, audio_patch_size * audio_channels)
        self.modality_embed = nn.Parameter(torch.randn(2, hidden_size) * 0.02)  # video, audio

        self.time_proj = Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(256, hidden_size)
        self.pooled_text_embed = nn.Sequential(nn.Linear(pooled_text_dim, hidden_size), nn.SiLU(),
                                               nn.Linear(hidden_size, hidden_size))
        self.text_proj = nn.Linear(text_dim, hidden_size)
        self.task_embed = nn.Embedding(len(task_names), hidden_size)
        self.task_tokens = nn.Linear(hidden_size, num_task_tokens * hidden_size)

        self.blocks = nn.ModuleList(JointBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth))
        self.video_final = FinalLayer(hidden_size, int(torch.tensor(patch_size).prod()) * video_channels)

    def _positions(self, grid: tuple[int, int, int], num_audio_tokens: int, device) -> torch.Tensor:
        t, h, w = grid
        video = torch.stack(torch.meshgrid(
            torch.arange(t, device=device), torch.arange(h, device=device), torch.arange(w, device=device),
            indexing="ij"), dim=-1).reshape(-1, 3).float()
        if not num_audio_tokens:
            return video
        # Audio tokens on the video's time axis (token centres), at the spatial middle.
        audio_t = (torch.arange(num_audio_tokens, device=device) + 0.5) * t / num_audio_tokens - 0.5
        audio = torch.stack([audio_t, torch.full_like(audio_t, (h - 1) / 2), torch.full_like(audio_t, (w - 1) / 2)], -1)
        return torch.cat([video, audio])

    def _task_ids(self, task_ids: torch.Tensor | None, batch: int, device) -> torch.Tensor:
        if task_ids is None:
            return torch.full((batch,), self.config.task_names.index("generate"), device=device)
        return task_ids

    def text_context(self, text_tokens: torch.Tensor, text_mask: torch.Tensor,
                     task_ids: torch.Tensor | None = None) -> TextContext:
        """What every block's cross-attention reads of the text tokens (B, L, text_dim), their
        mask (B, L) and the task tokens: `forward` computes it unless given it."""
        cfg, batch = self.config, text_tokens.shape[0]
        task = self.task_embed(self._task_ids(task_ids, batch, text_tokens.device))
        task_tokens = self.task_tokens(task).unflatten(-1, (cfg.num_task_tokens, -1))
        tokens = torch.cat([self.text_proj(text_tokens.to(self.video_embed.weight.dtype)), task_tokens], 1)
        mask = torch.cat([text_mask.bool(), text_mask.new_ones(batch, cfg.num_task_tokens, dtype=torch.bool)], 1)
        return TextContext([block.cross_attn.keys_values(tokens) for block in self.blocks],
                           mask[:, None, None, :])

    def forward(
        self,
        video_latents: torch.Tensor,  # (B, C, T, H, W)
        timestep: torch.Tensor,  # (B,) or scalar, in the scheduler's units (0..1000)
        text_tokens: torch.Tensor,  # (B, L, text_dim)
        text_mask: torch.Tensor,  # (B, L) bool, True = real token
        pooled_text: torch.Tensor,  # (B, pooled_text_dim)
        audio_latents: torch.Tensor | None = None,  # (B, Ca, N); None = video only
        video_cond: torch.Tensor | None = None,  # (B, Cc, T, H, W); None = blank
        audio_cond: torch.Tensor | None = None,  # (B, Ca, N); None = blank
        task_ids: torch.Tensor | None = None,  # (B,) indices into config.task_names; None = generate
        context: TextContext | None = None,  # text_context(text_tokens, text_mask, task_ids), if made already
    ) -> JointTransformerOutput:
        cfg = self.config
        batch = video_latents.shape[0]
        pt, ph, pw = cfg.patch_size
        _, _, t, h, w = video_latents.shape
        if t % pt or h % ph or w % pw:
            raise ValueError(f"video latent {tuple(video_latents.shape[2:])} is not divisible by patch {cfg.patch_size}")
        grid = (t // pt, h // ph, w // pw)

        dtype = self.video_embed.weight.dtype  # float inputs work with bf16 weights too (sampling)
        x = self.video_embed(video_latents.to(dtype))
        if video_cond is not None:
            x = x + self.video_cond_embed(video_cond.to(x.dtype))
        tokens = [x.flatten(2).transpose(1, 2) + self.modality_embed[0]]  # (B, Nv, D)
        num_audio = 0
        if cfg.audio_channels and audio_latents is not None:  # None: a video-only pass (single frames)
            if audio_latents.shape[-1] % cfg.audio_patch_size:
                raise ValueError(f"audio latent length {audio_latents.shape[-1]} is not divisible by "
                                 f"{cfg.audio_patch_size}")
            a = self.audio_embed(audio_latents.to(dtype))  # (B, Na, D)
            if audio_cond is not None:
                a = a + self.audio_cond_embed(audio_cond.to(a.dtype))
            tokens.append(a + self.modality_embed[1])
            num_audio = a.shape[1]
        x = torch.cat(tokens, dim=1)
        rotation = rope_rotation(self._positions(grid, num_audio, x.device), x.shape[-1] // cfg.num_heads,
                                 cfg.rope_theta)

        timestep = torch.as_tensor(timestep, device=x.device).expand(batch)
        task = self.task_embed(self._task_ids(task_ids, batch, x.device))
        c = self.time_embed(self.time_proj(timestep).to(dtype)) + task + self.pooled_text_embed(pooled_text.to(dtype))
        if context is None:
            context = self.text_context(text_tokens, text_mask, task_ids)

        for block, keys_values in zip(self.blocks, context.keys_values):
            x = block(x, c, keys_values, rotation, context.mask)

        num_video = grid[0] * grid[1] * grid[2]
        video = self.video_final(x[:, :num_video], c)  # (B, Nv, pt*ph*pw*C)
        video = video.reshape(batch, *grid, pt, ph, pw, cfg.video_channels)
        video = video.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(batch, cfg.video_channels, t, h, w)
        audio = None
        if num_audio:
            audio = self.audio_final(x[:, num_video:], c)  # (B, Na, pa*Ca)
            audio = audio.reshape(batch, num_audio, cfg.audio_patch_size, cfg.audio_channels)
            audio = audio.permute(0, 3, 1, 2).reshape(batch, cfg.audio_channels, -1)
        return JointTransformerOutput(video=video, audio=audio)
