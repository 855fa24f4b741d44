"""What the generate and edit pipelines share: their components, the clip format, the
sampling loop, the cascade's upsampling stage and decoding.

A checkpoint folder holds `model_index.json` (the clip format), and one subfolder per
component (`video_vae`, `audio_vae`, `transformer`, `upsampler`, `scheduler`,
`text_encoder`); `load_components` rebuilds every model from it, never from code defaults.
"""

import copy
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, DiffusionPipeline, FlowMatchEulerDiscreteScheduler
from diffusers.utils import BaseOutput

from models.audio_vae import AudioVAE
from models.joint_transformer import JointDenoisingTransformer, JointTransformerOutput
from models.noise_path import noisy_and_target, training_scheduler
from models.phase_vocoder import transposed
from models.pipelines.object_composition import pitch_ratio
from models.sampling_defaults import MAX_SEED
from models.text_encoder import TextEmbeddings, TextEncoder, default_text_encoder_path
from models.video_vae import VideoVAE

SCHEDULERS = {"flow_euler": FlowMatchEulerDiscreteScheduler, "ddpm": DDPMScheduler, "ddim": DDIMScheduler}

ProgressCallback = Callable[[int, int], None]  # (steps done, total steps)
M = TypeVar("M", bound=torch.nn.Module)
P = TypeVar("P", bound="StudioPipeline")
CLIP_FORMAT = ("base_size", "size", "num_frames", "fps", "sample_rate_hz", "num_samples", "compose_objects")
MATCH_LEVELS = (300, 500, 700, 850)  # training-timestep indices `caption_errors` scores at


def fast_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX). There bf16 denoisers
    sped sampling up at equal judge scores (README, Speed); elsewhere bf16 is emulated and
    slower. (torch exposes these checks only as underscored helpers of torch.cpu.)"""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


@dataclass
class ClipOutput(BaseOutput):
    frames: np.ndarray  # (N, T, H, W, 3) uint8, one clip per candidate
    audio: np.ndarray  # (N, samples) float32 mono in [-1, 1]
    seeds: list[int]  # the seed of each candidate: pass it back to get the same clip
    fps: float
    sample_rate_hz: int
    task: str = "generate"


def frames_to_tensor(frames: np.ndarray, size: int) -> torch.Tensor:
    """(N, T, H, W, 3) uint8 at any square size -> (N, 3, T, size, size) in [-1, 1]."""
    video = torch.from_numpy(np.ascontiguousarray(frames)).float().permute(0, 4, 1, 2, 3) / 127.5 - 1
    n, c, t, h, w = video.shape
    if h != size or w != size:
        flat = video.transpose(1, 2).reshape(n * t, c, h, w)
        flat = F.interpolate(flat, size=(size, size), mode="area")
        video = flat.reshape(n, t, c, size, size).transpose(1, 2)
    return video


def encode_video(video_vae: VideoVAE, video: torch.Tensor) -> torch.Tensor:
    """Video (N, 3, T, H, W) in [-1, 1] -> normalised latents (posterior mean), the space the
    transformers work in; training caches exactly these."""
    cfg = video_vae.config
    return (video_vae.encode(video).latent_dist.mode() - cfg.shift_factor) * cfg.scaling_factor


def encode_audio(audio_vae: AudioVAE, audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Audio (N, samples) -> normalised latents (N, Ca, n)."""
    cfg = audio_vae.config
    waveform = torch.as_tensor(np.ascontiguousarray(audio, dtype=np.float32))[:, None]
    return (audio_vae.encode(waveform).latent_dist.mode() - cfg.shift_factor) * cfg.scaling_factor


class StudioPipeline(DiffusionPipeline):
    """Base of GeneratePipeline and EditPipeline; not used on its own."""

    def __init__(self, text_encoder: TextEncoder, video_vae: VideoVAE, audio_vae: AudioVAE,
                 transformer: JointDenoisingTransformer, scheduler, upsampler: JointDenoisingTransformer | None = None,
                 base_size: int = 32, size: int = 64, num_frames: int = 16, fps: float = 8.0,
                 sample_rate_hz: int = 16_000, num_samples: int = 32_000, compose_objects: bool = False,
                 generation_transformer: JointDenoisingTransformer | None = None):
        """`generation_transformer`: the text-to-video generator, where `transformer` is another
        (the edit pipeline's). It tells objects apart by their captions (`caption_errors`)
        better than the edit transformer's generation task (README: Edits object by object),
        and draws an added object, a new shape or a new colour (README: Add and reshape by
        generation, Recolour by generation); None: `transformer`."""
        super().__init__()
        self.register_modules(text_encoder=text_encoder, video_vae=video_vae, audio_vae=audio_vae,
                              transformer=transformer, scheduler=scheduler, upsampler=upsampler,
                              generation_transformer=generation_transformer)
        self.register_to_config(base_size=base_size, size=size, num_frames=num_frames, fps=fps,
                                sample_rate_hz=sample_rate_hz, num_samples=num_samples,
                                compose_objects=compose_objects)
        self.bf16 = fast_bf16()  # denoisers and the video decoder run bf16 copies of their weights; False: fp32
        self._bf16_twins: dict[int, tuple[torch.nn.Module, torch.nn.Module]] = {}

    # ------------------------------------------------------------ inputs

    @staticmethod
    def check_common(num_inference_steps: int, num_candidates: int, seed, guidance: dict[str, float]) -> None:
        if not 1 <= int(num_inference_steps) <= 200:
            raise ValueError(f"steps must be between 1 and 200, not {num_inference_steps}")
        if not 1 <= int(num_candidates) <= 8:
            raise ValueError(f"candidates must be between 1 and 8, not {num_candidates}")
        if seed is not None and not 0 <= int(seed) <= MAX_SEED:
            raise ValueError(f"seed must be between 0 and 2^63 - 1, not {seed}")
        for name, value in guidance.items():
            if not np.isfinite(value) or not 0 <= value <= 30:
                raise ValueError(f"{name} must be a finite number between 0 and 30, not {value}")

    @staticmethod
    def seeds_for(seed: int | None, num_candidates: int) -> list[int]:
        """Candidate i uses seed + i; with no seed, a random one is drawn (and reported)."""
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()).item())
        return [(int(seed) + i) % (MAX_SEED + 1) for i in range(num_candidates)]

    # ------------------------------------------------------------ encoding

    def encode_text(self, prompts: list[str]) -> TextEmbeddings:
        return self.text_encoder.encode(prompts).to(dtype=torch.float32)

    @property
    def clip_size(self) -> int:
        """The frames' size (px) this pipeline makes: the cascade's, or the base stage's where it
        has no upsampler (stage III's backtranslation edits at the base size)."""
        return self.config.size if self.upsampler is not None else self.config.base_size

    def latent_shapes(self, size: int) -> tuple[tuple, tuple]:
        """(video latent shape, audio latent shape) of one clip at frame size `size`."""
        video = self.video_vae.latent_shape(self.config.num_frames, size, size)
        audio = (self.audio_vae.config.latent_channels, self.audio_vae.latent_length(self.config.num_samples))
        return tuple(video), audio

    @staticmethod
    def noise(seeds: list[int], shape: tuple, salt: int) -> torch.Tensor:
        """Noise for each candidate from its own seed (salted per stage and modality), so a
        candidate's clip does not depend on how many others were asked for."""
        return torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(s * 4 + salt)) for s in seeds])

    # ------------------------------------------------------------ sampling

    def fast_copy(self, module: M) -> M:
        """The module to run now: `module` itself, or with `self.bf16` its bf16 twin, kept by
        the pipeline and refreshed from `module`'s weights at each call (2.6 ms for the 10
        M-parameter generator, once per sampling loop), so a model trained on in place runs as
        it is now. Whole-bf16 forwards skip the casts bf16 autocast makes at every op: faster,
        and judged alike (README, Speed)."""
        if not self.bf16 or module.dtype == torch.bfloat16:
            return module
        master, twin = self._bf16_twins.get(id(module), (None, None))
        if master is not module:  # holding `module` keeps its id from being reused
            twin = copy.deepcopy(module).bfloat16()
            self._bf16_twins[id(module)] = (module, twin)
        with torch.no_grad():
            for low, full in zip(twin.parameters(), module.parameters()):
                low.copy_(full)
        return twin

    def generator_model(self) -> JointDenoisingTransformer:
        return self.generation_transformer if self.generation_transformer is not None else self.transformer

    def sibling(self, pipeline_class: type[P]) -> P:
        """A `pipeline_class` on this pipeline's components and clip format, with the generation
        transformer as its denoiser, sharing this pipeline's bf16 copies (no second copy of a
        module both run)."""
        other = pipeline_class(text_encoder=self.text_encoder, video_vae=self.video_vae, audio_vae=self.audio_vae,
                               transformer=self.generator_model(), scheduler=self.scheduler,
                               upsampler=self.upsampler, **{k: self.config[k] for k in CLIP_FORMAT})
        other.set_progress_bar_config(**getattr(self, "_progress_bar_config", {}))
        other._bf16_twins = self._bf16_twins
        return other

    @staticmethod
    def predict(model: JointDenoisingTransformer, *args, **kwargs) -> JointTransformerOutput:
        """One denoiser forward with outputs in fp32, so the guidance arithmetic and the
        scheduler's steps keep full precision."""
        out = model(*args, **kwargs)
        return JointTransformerOutput(video=out.video.float(), audio=None if out.audio is None else out.audio.float())

    @torch.no_grad()
    def caption_errors(self, clean: torch.Tensor, text: TextEmbeddings, cells: torch.Tensor | None = None
                       ) -> torch.Tensor:
        """(B,) each clip's denoising error under its text, summed over `MATCH_LEVELS`, with the
        same noise for every clip: the lower, the better the text describes the clip (the
        denoiser as a classifier of its captions, Li et al. 2023). `clean`: video latents
        (B, C, T, h, w) at the base size, scored as generation (no conditioning video) by the
        generation transformer. `cells` (B, T, h, w), 0 or 1: average each clip's error over these
        latent cells alone (its object's), not over the whole clip."""
        scheduler, model = training_scheduler(self.scheduler), self.fast_copy(self.generator_model())
        cond = torch.zeros(len(clean), clean.shape[1] + 1, *clean.shape[2:])
        weights = torch.ones(clean[:, 0].shape) if cells is None else cells  # (B, T, h, w)
        generator = torch.Generator().manual_seed(0)
        error = torch.zeros(len(clean))
        for level in MATCH_LEVELS:
            noise = torch.randn(clean[:1].shape, generator=generator).expand_as(clean)
            audio = torch.randn((1, *self.latent_shapes(self.config.base_size)[1]), generator=generator)
            noisy, timesteps, target = noisy_and_target(scheduler, clean, noise, torch.full((len(clean),), level))
            out = self.predict(model, noisy, timesteps[0], text.tokens, text.mask, text.pooled,
                               audio_latents=audio.expand(len(clean), -1, -1), video_cond=cond)
            squared = ((out.video - target) ** 2).mean(1)  # (B, T, h, w)
            error += (squared * weights).flatten(1).sum(1) / weights.flatten(1).sum(1).clamp(min=1)
        return error

    def denoise(self, model: JointDenoisingTransformer, velocity_for: Callable, video: torch.Tensor,
                audio: torch.Tensor | None, num_inference_steps: int, progress: ProgressCallback | None = None,
                progress_offset: int = 0, progress_total: int | None = None,
                known: tuple[torch.Tensor, torch.Tensor] | None = None):
        """The sampling loop: the scheduler integrates `velocity(video, audio, t)` (guidance
        already applied) from noise to clean latents, where `velocity_for(denoiser)` makes
        `velocity` once per loop for the model the loop runs (`fast_copy(model)`), so what
        stays the same over the steps (the text context) is computed once. Video and audio
        are stepped as one packed tensor so the scheduler advances once per step.

        `known` = (clean video latents, frame mask (N, 1, T, 1, 1)) pins latent frames the
        request already gives (image-to-video's first frame): before every step they are reset
        to the scheduler's noising of their clean latents, with the starting noise, and at the
        end to the clean latents, so the other frames are denoised around them (RePaint-style
        replacement)."""
        velocity = velocity_for(self.fast_copy(model))
        scheduler = copy.deepcopy(self.scheduler)  # per call: the scheduler keeps step state
        scheduler.set_timesteps(num_inference_steps)
        split = video[0].numel()
        start_noise = video
        packed = pack(video, audio)
        with self.progress_bar(total=len(scheduler.timesteps)) as bar:
            for i, t in enumerate(scheduler.timesteps):
                video, audio = unpack(packed, video.shape, audio.shape if audio is not None else None, split)
                if known is not None:
                    video = torch.lerp(video, noised(scheduler, known[0], start_noise, t), known[1])
                    packed = pack(video, audio)
                v_video, v_audio = velocity(video, audio, t)
                packed = scheduler.step(pack(v_video, v_audio), t, packed).prev_sample
                bar.update()
                if progress is not None:
                    progress(progress_offset + i + 1, progress_total or num_inference_steps)
        video, audio = unpack(packed, video.shape, audio.shape if audio is not None else None, split)
        if known is not None:
            video = torch.lerp(video, known[0], known[1])
        return video, audio

    def upsample(self, base_video: torch.Tensor, reference: torch.Tensor, text: TextEmbeddings, seeds: list[int],
                 guidance_scale: float, num_inference_steps: int, progress: ProgressCallback | None,
                 progress_offset: int, progress_total: int, task_ids: torch.Tensor | None = None,
                 known: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """The cascade's second stage: full-size video latents conditioned on the base latents
        (nearest-upsampled) and a full-size reference with its mask (the input image in frame
        0, the source video of an edit, or blank), so detail the base size lost can return;
        `known` pins latent frames as in `denoise`."""
        shape, _ = self.latent_shapes(self.config.size)
        factor = shape[-1] // base_video.shape[-1]
        cond = torch.cat([F.interpolate(base_video, scale_factor=(1, factor, factor), mode="nearest"), reference], 1)
        cond = cond.repeat(2, 1, 1, 1, 1)
        n = len(seeds)

        def velocity_for(upsampler):
            context = upsampler.text_context(text.tokens, text.mask, task_ids)

            def velocity(video, _audio, t):
                both = self.predict(upsampler, video.repeat(2, 1, 1, 1, 1), t, text.tokens, text.mask, text.pooled,
                                    video_cond=cond, task_ids=task_ids, context=context).video
                uncond, cond_out = both[:n], both[n:]
                return uncond + guidance_scale * (cond_out - uncond), None
            return velocity

        video, _ = self.denoise(self.upsampler, velocity_for, self.noise(seeds, shape, salt=2), None,
                                num_inference_steps, progress, progress_offset, progress_total, known)
        return video

    # ------------------------------------------------------------ decoding

    def decode_video(self, video: torch.Tensor) -> np.ndarray:
        """Normalised video latents (N, C, T, h, w) -> frames (N, T, H, W, 3) uint8."""
        vcfg = self.video_vae.config
        video_vae = self.fast_copy(self.video_vae)  # bf16: 31 -> 15 ms, 61 dB from fp32's frames
        frames = video_vae.decode((video / vcfg.scaling_factor + vcfg.shift_factor).to(video_vae.dtype),
                                  num_frames=self.config.num_frames).sample.float()
        return ((frames.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 4, 1).numpy()

    def decode_audio(self, audio: torch.Tensor) -> np.ndarray:
        """Normalised audio latents (M, C, L) -> waveforms (M, samples) float32 in [-1, 1]."""
        acfg = self.audio_vae.config
        waveform = self.audio_vae.decode(audio / acfg.scaling_factor + acfg.shift_factor,
                                         num_samples=self.config.num_samples).sample
        return waveform[:, 0].clamp(-1, 1).float().numpy()

    def decode(self, video: torch.Tensor, audio: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Normalised latents -> frames (N, T, H, W, 3) uint8 and audio (M, samples) float32."""
        return self.decode_video(video), self.decode_audio(audio)

    def moved_sound(self, waveform: np.ndarray, rows_down: list[int]) -> np.ndarray:
        """Objects' sounds (N, samples) float32 with each tone moved as far in pitch as its object
        was moved down `rows_down` pixels when laid out (`object_composition.pitch_ratio`), so it
        still sounds where it is seen; re-synthesised by the phase vocoder, unmoved rows as they are."""
        moved = [r for r, down in enumerate(rows_down) if down]
        if not moved:
            return waveform
        ratio = torch.tensor([pitch_ratio(rows_down[r], self.clip_size) for r in moved])
        cfg = self.audio_vae.config
        tones = transposed(torch.from_numpy(waveform[moved]), ratio, cfg.n_fft, cfg.hop_length)
        out = waveform.copy()
        out[moved] = tones.clamp(-1, 1).numpy()
        return out


def noised(scheduler, clean: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """`clean` latents noised to timestep `t` along the scheduler's own forward path."""
    timesteps = t.reshape(1).expand(len(clean))
    if isinstance(scheduler, FlowMatchEulerDiscreteScheduler):
        return scheduler.scale_noise(clean, timesteps, noise)
    return scheduler.add_noise(clean, noise, timesteps)


def pack(video: torch.Tensor, audio: torch.Tensor | None) -> torch.Tensor:
    flat = video.flatten(1)
    return flat if audio is None else torch.cat([flat, audio.flatten(1)], dim=1)


def unpack(packed: torch.Tensor, video_shape, audio_shape, split: int):
    video = packed[:, :split].reshape(video_shape)
    audio = None if audio_shape is None else packed[:, split:].reshape(audio_shape)
    return video, audio


# ---------------------------------------------------------------- checkpoints

COMPONENT_CLASSES = {"video_vae": VideoVAE, "audio_vae": AudioVAE, "transformer": JointDenoisingTransformer,
                     "upsampler": JointDenoisingTransformer, "edit_transformer": JointDenoisingTransformer}


def save_text_encoder_reference(folder: Path, encoder: TextEncoder) -> None:
    """The frozen text encoder is not copied into checkpoints: they name it. The packaged
    default is named "default" so a checkpoint moves between machines."""
    folder.mkdir(parents=True, exist_ok=True)
    name = encoder.name_or_path
    if Path(name).resolve() == default_text_encoder_path().resolve():
        name = "default"
    (folder / "config.json").write_text(json.dumps({"name_or_path": name, "max_length": encoder.max_length}))


def load_text_encoder_reference(folder: Path) -> TextEncoder:
    reference = json.loads((folder / "config.json").read_text())
    name = reference["name_or_path"]
    name = str(default_text_encoder_path()) if name == "default" else name
    return TextEncoder.from_pretrained(name, max_length=reference["max_length"])


def swap_in_folder(tmp: Path, final: Path) -> None:
    """Replace `final` by the finished folder `tmp`: a kill leaves the old folder (possibly
    renamed `.old`, which loading reports as missing) or the new one, never half of one."""
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def save_components(folder: str | os.PathLike, components: dict, clip_format: dict) -> None:
    """Write components into a checkpoint folder, adding to those already there (training
    fills a run's checkpoint stage by stage); each is written beside its place, then swapped in."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    index_path = folder / "model_index.json"
    existing = json.loads(index_path.read_text()) if index_path.is_file() else {}
    for name, module in components.items():
        if module is None:
            continue
        tmp = folder / f"{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        if name == "scheduler":
            module.save_pretrained(tmp)
        elif name == "text_encoder":
            save_text_encoder_reference(tmp, module)
        else:
            module.save_pretrained(tmp, safe_serialization=True)
        swap_in_folder(tmp, folder / name)
    names = set(existing.get("components", [])) | {k for k, v in components.items() if v is not None}
    scheduler_class = (type(components["scheduler"]).__name__ if components.get("scheduler") is not None
                       else existing.get("scheduler_class"))
    index = {"format": "flipbook", "components": sorted(names), "scheduler_class": scheduler_class, **clip_format}
    tmp = folder / "model_index.json.tmp"
    tmp.write_text(json.dumps(index, indent=1))
    os.replace(tmp, folder / "model_index.json")


def load_components(folder: str | os.PathLike, scheduler: str | None = None) -> tuple[dict, dict]:
    """(components, clip format) of a checkpoint folder; a clear ValueError if it is not one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"model folder {folder} does not exist")
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise ValueError(f"model folder {folder} has no model_index.json: not a Flipbook checkpoint")
    try:
        index = json.loads(index_path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{index_path} is not valid JSON: {error}") from None
    components = {}
    for name in index["components"]:
        path = folder / name
        try:
            if name == "scheduler":
                scheduler_class = SCHEDULERS[scheduler] if scheduler else getattr(
                    __import__("diffusers"), index["scheduler_class"])
                components[name] = scheduler_class.from_pretrained(path)
            elif name == "text_encoder":
                components[name] = load_text_encoder_reference(path)
            else:
                components[name] = COMPONENT_CLASSES[name].from_pretrained(path, use_safetensors=True,
                                                                             torch_dtype=torch.float32).eval()
        except (OSError, ValueError, KeyError, RuntimeError, EnvironmentError) as error:
            raise ValueError(f"cannot load '{name}' from {folder}: {str(error).splitlines()[0]}") from None
    clip_format = {k: index[k] for k in CLIP_FORMAT[:-1]}
    clip_format["compose_objects"] = bool(index.get("compose_objects", False))  # sample object by object
    return components, clip_format
