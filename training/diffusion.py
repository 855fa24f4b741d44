"""What the transformer stages share: loading the run's encoders and cached data, assembling
a batch of each data kind, the denoising loss, and validation clips.

Every random draw is made for the whole global batch from the step's generator and then
sliced for this process (see training/loop.py), so the process count never changes the run.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from models.noise_path import noisy_and_target
from models.pipelines import GeneratePipeline, load_components
from studio import media
from studio.world.spec import TASKS
from training.data import CachedData, Encoders, ensure_cache, ensure_dataset
from training.loop import Batch
from training.objective import sample_timesteps

SOURCE_DROPOUT = 0.1  # edits: drop the source clip, so dual guidance has its "no source" branch
UPSAMPLER_COND_NOISE = 0.2  # largest noise added to the base latent (generated ones are imperfect)
VALIDATION_PROMPTS = ("a large red circle moving right on a navy background",
                      "a small green triangle moving up on a beige background")


def folder_fingerprint(*folders: Path) -> str:
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def load_run(cfg, kinds: tuple[str, ...]) -> tuple[dict, dict, dict[str, CachedData]]:
    """(components, clip format, cached data per kind) from the run's checkpoint so far."""
    dataset = ensure_dataset(cfg)
    components, fmt = load_components(cfg.checkpoint_path)
    enc = Encoders(components["text_encoder"], components["video_vae"], components["audio_vae"], fmt,
                   folder_fingerprint(cfg.checkpoint_path / "video_vae", cfg.checkpoint_path / "audio_vae",
                                      cfg.checkpoint_path / "text_encoder"))
    cache = cfg.run_path / "cache"
    data = {kind: CachedData(ensure_cache(dataset, cache, kind, enc, cfg.seed)) for kind in kinds}
    return components, fmt, data


# ---------------------------------------------------------------- batches

@dataclass
class Inputs:
    """One global batch for the transformer; `video`/`audio` are the clean targets."""

    video: torch.Tensor  # (G, C, T', h, w)
    audio: torch.Tensor | None  # (G, Ca, n), None for video-only data
    video_cond: torch.Tensor  # (G, Cc, T', h, w)
    audio_cond: torch.Tensor | None
    text: tuple  # (tokens (G, L, D), mask (G, L), pooled (G, D))
    task_ids: torch.Tensor  # (G,)
    index: torch.Tensor  # (G,) which cached samples


def draw(batch: Batch, population: torch.Tensor | int) -> torch.Tensor:
    """Global-batch sample indices, uniformly from range(n) or from a tensor of indices."""
    n = population if isinstance(population, int) else len(population)
    picks = torch.randint(0, n, (batch.global_size,), generator=batch.generator)
    return picks if isinstance(population, int) else population[picks]


def first_frame_condition(image: torch.Tensor, has_image: torch.Tensor, latent_frames: int) -> torch.Tensor:
    """Image latents (G, C, 1, h, w) -> conditioning (G, C + 1, T', h, w): the image in latent
    frame 0 and a mask marking it, blank where `has_image` (G,) is 0."""
    cond = torch.zeros(image.shape[0], image.shape[1] + 1, latent_frames, *image.shape[3:])
    cond[:, :-1, :1] = image * has_image.view(-1, 1, 1, 1, 1)
    cond[:, -1, 0] = has_image.view(-1, 1, 1)
    return cond


def generation_inputs(data: CachedData, batch: Batch, text_dropout: float, image_dropout: float) -> Inputs:
    """Text-to-video or, where the image is kept, image-to-video."""
    g, index = batch.generator, draw(batch, len(data))
    text = data.pick_texts(index, g, text_dropout)
    has_image = (torch.rand(len(index), generator=g) >= image_dropout).float()
    video = data["video_base"][index]
    cond = first_frame_condition(data["image_base"][index], has_image, video.shape[2])
    return Inputs(video, data["audio"][index], cond, None, text, torch.zeros_like(index), index)


def edit_inputs(data: CachedData, batch: Batch, text_dropout: float, index: torch.Tensor | None = None,
                size: str = "base") -> Inputs:
    """Source clip (or frame) as conditioning with an all-ones mask, target as the clean latent."""
    g = batch.generator
    index = draw(batch, len(data)) if index is None else index
    text = data.pick_texts(index, g, text_dropout)
    keep = (torch.rand(len(index), generator=g) >= SOURCE_DROPOUT).float().view(-1, 1, 1, 1, 1)
    source = data[f"source_{size}"][index] * keep
    cond = torch.cat([source, keep.expand_as(source[:, :1])], dim=1)
    audio = audio_cond = None
    if "target_audio" in data.tensors:
        audio, audio_cond = data["target_audio"][index], data["source_audio"][index] * keep[:, :, 0, 0]
    return Inputs(data[f"target_{size}"][index], audio, cond, audio_cond, text, data["task_ids"][index], index)


def task_indices(data: CachedData, task: str) -> torch.Tensor:
    index = torch.nonzero(data["task_ids"] == TASKS.index(task)).flatten()
    if not len(index):
        raise ValueError(f"the cached edits have no '{task}' samples")
    return index


def choose_kind(batch: Batch, mix: dict[str, float]) -> str:
    """The data kind of this step's batch, drawn by the mix weights (one kind per batch,
    since kinds differ in shape)."""
    names = sorted(mix)
    weights = torch.tensor([float(mix[n]) for n in names])
    return names[int(torch.multinomial(weights, 1, generator=batch.generator))]


def upsampler_inputs(inputs: Inputs, full_video: torch.Tensor, reference: torch.Tensor, batch: Batch) -> Inputs:
    """Turn base-size inputs into the upsampler's: target at full size; conditioning the
    (noise-augmented, nearest-upsampled) base latent plus a full-size reference with mask."""
    g = batch.generator
    base = inputs.video
    level = torch.rand(len(base), generator=g).view(-1, 1, 1, 1, 1) * UPSAMPLER_COND_NOISE
    base = base + level * torch.randn(base.shape, generator=g)
    factor = full_video.shape[-1] // base.shape[-1]
    cond = torch.cat([F.interpolate(base, scale_factor=(1, factor, factor), mode="nearest"), reference], dim=1)
    return Inputs(full_video, None, cond, None, inputs.text, inputs.task_ids, inputs.index)


# ---------------------------------------------------------------- loss

# A latent cell is an object's when it lies this far from its frame's median cell (the
# background of a flat-background clip).
FOREGROUND_DISTANCE = 2.0


def object_distance(video: torch.Tensor) -> torch.Tensor:
    """How far each cell of latents (N, C, T, h, w) lies from its frame's median cell: (N, T, h, w)."""
    background = video.flatten(3).median(-1).values[..., None, None]  # (N, C, T, 1, 1)
    return (video - background).norm(dim=1)


def foreground_weights(video: torch.Tensor, weight: float) -> torch.Tensor:
    """Per-cell loss weights (B, 1, T, h, w) for clean latents (B, C, T, h, w): 1 + `weight` on
    the cells of objects. Shapes World objects cover a few cells of a uniform background, so a
    frame's median cell is its background and the cells far from it (about 14 % of them) are
    objects; weighting them up spends the loss on what the caption binds (colour, shape,
    motion) rather than on background the model already gets right."""
    far = object_distance(video)[:, None] > FOREGROUND_DISTANCE
    return 1 + weight * far.float()


def denoising_loss(model, scheduler, inputs: Inputs, batch: Batch, foreground_weight: float = 0.0):
    """Noise the clean latents along the scheduler's path, predict its target, mean squared
    error per modality (video cells weighted by `foreground_weights` when `foreground_weight`
    is set). Returns (loss, parts)."""
    g = batch.generator
    steps = sample_timesteps(scheduler, batch.global_size, g)
    noise_video = torch.randn(inputs.video.shape, generator=g)
    noise_audio = torch.randn(inputs.audio.shape, generator=g) if inputs.audio is not None else None
    take = batch.take
    noisy_video, timesteps, target_video = noisy_and_target(scheduler, take(inputs.video), take(noise_video),
                                                            take(steps))
    noisy_audio = target_audio = None
    if inputs.audio is not None:
        noisy_audio, _, target_audio = noisy_and_target(scheduler, take(inputs.audio), take(noise_audio), take(steps))
    tokens, mask, pooled = (take(t) for t in inputs.text)
    out = model(noisy_video, timesteps, tokens, mask, pooled, audio_latents=noisy_audio,
                video_cond=take(inputs.video_cond),
                audio_cond=take(inputs.audio_cond) if inputs.audio_cond is not None else None,
                task_ids=take(inputs.task_ids))
    if foreground_weight:
        weights = foreground_weights(inputs.video, foreground_weight)  # the global batch's, so processes agree
        squared = (out.video.float() - target_video).square().mean(1, keepdim=True)
        video_loss = (take(weights) * squared).mean() / weights.mean()
    else:
        video_loss = F.mse_loss(out.video.float(), target_video)
    parts = {"video": video_loss.item()}
    loss = video_loss
    if out.audio is not None:
        audio_loss = F.mse_loss(out.audio.float(), target_audio)
        loss = loss + audio_loss
        parts["audio"] = audio_loss.item()
    return loss, parts


# ---------------------------------------------------------------- validation

def write_generation_samples(components: dict, fmt: dict, folder: Path, steps: int, upsampler=None,
                             transformer=None) -> None:
    """A clip per validation prompt with the weights being trained, for people to watch."""
    parts = {**components, "upsampler": upsampler if upsampler is not None else components.get("upsampler")}
    if transformer is not None:
        parts["transformer"] = transformer
    pipe = GeneratePipeline(**{k: parts.get(k) for k in ("text_encoder", "video_vae", "audio_vae", "transformer",
                                                          "scheduler", "upsampler")}, **fmt)
    pipe.set_progress_bar_config(disable=True)
    folder.mkdir(parents=True, exist_ok=True)
    for i, prompt in enumerate(VALIDATION_PROMPTS):
        out = pipe(prompt, seed=i, num_inference_steps=steps, upsampler_steps=steps)
        media.write_video(folder / f"sample_{i}.mp4", media.Clip(out.frames[0], out.audio[0], fmt["fps"],
                                                                 fmt["sample_rate_hz"]), display_scale=4)
        (folder / f"sample_{i}.txt").write_text(prompt + "\n")
