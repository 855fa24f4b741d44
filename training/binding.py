"""A contrastive loss that teaches the generator which attribute belongs to which object.

Swapping two objects' colours (or shapes, motions, sizes) in a caption moved the shipped
generator's denoising loss on true two-object clips by under 1 %, where naming a colour
neither object has moved it by 20-40 % (README, Two objects): it read a caption as a bag of
attributes. Here fresh two-object Shapes World scenes are rendered each step and denoised
twice with the same noise, under their caption and under the caption with one attribute
exchanged between the objects; the loss is the logistic loss of the written caption winning,
its score the relative difference of the two errors on the objects' latent cells (the
denoiser used as a classifier of its captions, as in Diffusion Classifier, Li et al. 2023).
"""

import numpy as np
import torch
import torch.nn.functional as F

from models.pipelines.studio_pipeline import encode_audio, encode_video, frames_to_tensor
from studio.world.captions import caption
from studio.world.render import render_clip
from studio.world.scene import ATTRIBUTES, Holdout, Scene, sample_scene
from training.diffusion import first_frame_condition, foreground_weights
from training.loop import Batch
from training.objective import noisy_and_target, sample_timesteps


def swap_binding(scene: Scene, rng: np.random.Generator, holdout: Holdout) -> Scene | None:
    """The two-object scene with one attribute on which its objects differ exchanged between
    them, or None when every such exchange makes a held-out combination."""
    a, b = scene.objects
    differing = [name for name in ATTRIBUTES if getattr(a, name) != getattr(b, name)]
    for name in rng.permutation(differing):
        swapped = scene.exchanged(str(name))
        if not holdout.is_held_out(swapped):
            return swapped
    return None


@torch.no_grad()
def binding_pairs(components: dict, fmt: dict, batch: Batch, count: int, holdout: Holdout) -> dict:
    """`count` fresh two-object training scenes for the whole global batch: clean base latents
    (count, C, T', h, w), audio latents and the text encodings of [written, swapped] captions
    (2 * count rows, written first)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=batch.generator))
    rng = np.random.default_rng(seed)
    scenes, swapped = [], []
    while len(scenes) < count:
        scene = sample_scene(rng, 2, holdout, "train")
        other = swap_binding(scene, rng, holdout)
        if other is not None:
            scenes.append(scene)
            swapped.append(other)
    clips = [render_clip(s, fmt["size"]) for s in scenes]
    video = encode_video(components["video_vae"], frames_to_tensor(np.stack([c.frames for c in clips]),
                                                                    fmt["base_size"]))
    audio = encode_audio(components["audio_vae"], np.stack([c.audio for c in clips]))
    text = components["text_encoder"].encode([caption(s) for s in scenes] + [caption(s) for s in swapped])
    return {"video": video, "audio": audio, "text": (text.tokens, text.mask, text.pooled, text.clauses)}


def binding_loss(model, scheduler, pairs: dict, batch: Batch,
                 temperature: float) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(logistic loss of the written captions' win over the swapped ones, the plain denoising
    loss under the written captions, share won) on this process's slice of the pairs; each pair
    shares noise and noise level. The denoising loss anchors the model on these rendered clips,
    whose loss the contrast alone leaves free to drift (it rose by half in a run without it)."""
    g, video, audio = batch.generator, pairs["video"], pairs["audio"]
    count = len(video)
    steps = sample_timesteps(scheduler, count, g)
    noise_video = torch.randn(video.shape, generator=g)
    noise_audio = torch.randn(audio.shape, generator=g)
    mine = slice(batch.start * count // batch.global_size, (batch.start + batch.size) * count // batch.global_size)
    noisy_video, timesteps, target = noisy_and_target(scheduler, video[mine], noise_video[mine], steps[mine])
    noisy_audio, _, target_audio = noisy_and_target(scheduler, audio[mine], noise_audio[mine], steps[mine])
    tokens, mask, pooled, clauses = (torch.cat([t[:count][mine], t[count:][mine]]) for t in pairs["text"])
    cond = first_frame_condition(torch.zeros_like(video[mine][:, :, :1]), torch.zeros(len(video[mine])), video.shape[2])
    out = model(noisy_video.repeat(2, 1, 1, 1, 1), timesteps.repeat(2), tokens, mask, pooled,
                audio_latents=noisy_audio.repeat(2, 1, 1), video_cond=cond.repeat(2, 1, 1, 1, 1), text_clauses=clauses)
    weights = foreground_weights(video[mine], 1.0) - 1  # (n, 1, T', h, w): 1 on the objects' cells
    squared = (out.video.float() - target.repeat(2, 1, 1, 1, 1)).square().mean(1, keepdim=True)
    errors = (weights.repeat(2, 1, 1, 1, 1) * squared).flatten(1).sum(1) / weights.flatten(1).sum(1).clamp(min=1).repeat(2)
    written, other = errors.chunk(2)  # (n,) each
    score = (other - written) / ((other + written).detach() / 2)  # > 0: the written caption fits better
    anchor = squared.chunk(2)[0].mean() + F.mse_loss(out.audio.chunk(2)[0].float(), target_audio)
    return F.softplus(-score / temperature).mean(), anchor, (score > 0).float().mean().item()
