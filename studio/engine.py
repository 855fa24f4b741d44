"""The studio's engine: one checkpoint loaded once (lazily), shared by the CLI and every tab
of the app; runs generation and edit requests on files and writes browser-playable mp4s,
each next to its reproducibility record.

Every prompt and instruction passes `studio.prompts` here (cleaned, length-limited, screened
by the safety filter), so no front end can skip it.
"""

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models import sampling_defaults as defaults
from studio import media, prompts
from studio.prompts import SafetyFilter

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL_DIR = REPO_ROOT / "assets" / "shapes"
DISPLAY_SCALE = 4  # 64-px clips are written at 256 px so people can see them
# x264's speed preset for those: 36 ms a 2-s clip with its audio against veryfast's 49, read back
# at 42.3 against 42.0 dB PSNR, 79 against 56 kB (README, Speed)
DISPLAY_PRESET = "ultrafast"


@dataclass
class Result:
    """One finished request: the clips (one per candidate) and what made them."""

    frames: np.ndarray  # (N, T, H, W, 3) uint8
    audio: np.ndarray  # (N, samples) float32
    seeds: list[int]
    task: str
    record: dict  # settings shared by every candidate
    notes: list[str] = field(default_factory=list)  # what was done to the inputs
    source: media.Clip | None = None  # edits: the source clip exactly as the model saw it

    def clip(self, index: int, fps: float, sample_rate_hz: int) -> media.Clip:
        return media.Clip(self.frames[index], self.audio[index], fps, sample_rate_hz)


def model_dir_from_env(model_dir: str | os.PathLike | None = None) -> Path:
    """The checkpoint folder: the argument, else $FLIPBOOK_MODEL, else the shipped one."""
    return Path(model_dir or os.environ.get("FLIPBOOK_MODEL") or DEFAULT_MODEL_DIR)


def model_hash(folder: Path) -> str:
    """A short content hash of a checkpoint folder, for the reproducibility record."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class Engine:
    def __init__(self, model_dir: str | os.PathLike = DEFAULT_MODEL_DIR, scheduler: str | None = None,
                 safety: SafetyFilter | None = None):
        """`safety=None` reads the unsafe list named by $FLIPBOOK_UNSAFE_LIST (else the default)."""
        self.model_dir = Path(model_dir)
        self.scheduler = scheduler
        self.safety = safety or SafetyFilter.from_env()
        self._lock = threading.Lock()
        self._pipelines = None

    # ------------------------------------------------------------ loading

    def load(self):
        """(generate pipeline, edit pipeline) sharing one set of weights; loaded on first use."""
        with self._lock:
            if self._pipelines is None:
                from models.pipelines import EditPipeline, GeneratePipeline, load_components

                components, clip_format = load_components(self.model_dir, self.scheduler)
                edit_transformer = components.pop("edit_transformer", None)
                generate = GeneratePipeline(**components, **clip_format)
                if edit_transformer is not None:
                    components.update(transformer=edit_transformer, generation_transformer=generate.transformer)
                edit = EditPipeline(**components, **clip_format)
                for pipe in (generate, edit):
                    pipe.set_progress_bar_config(disable=True)
                self._pipelines = (generate, edit, model_hash(self.model_dir))
            return self._pipelines

    @property
    def loaded(self) -> bool:
        return self._pipelines is not None

    def card(self) -> tuple[str | None, dict | None]:
        return read_card(self.model_dir)

    @property
    def clip_format(self) -> dict:
        return dict(self.load()[0].config)

    @property
    def content_hash(self) -> str:
        """The loaded checkpoint's content hash, as records name it (model_hash)."""
        return self.load()[2]

    # ------------------------------------------------------------ requests

    def text(self, value, what: str, screen: bool = True) -> tuple[str, list[str]]:
        """A prompt or instruction as the model will read it, with notes on what was cleaned;
        checked before any weights load. Negative prompts are not screened: naming what to
        steer away from is what they are for."""
        text, notes = prompts.clean(value, what)
        prompts.check_length(text, what)
        if screen:
            self.safety.check(text, what)
        return text, notes

    def generate(self, prompt: str, image_path: str | None = None, seed: int | None = None,
                 steps: int = defaults.STEPS, guidance: float = defaults.GUIDANCE, negative_prompt: str = "",
                 candidates: int = 1, upsampler_steps: int = defaults.UPSAMPLER_STEPS,
                 audio_guidance: float = defaults.AUDIO_GUIDANCE, compose_objects: bool | None = None,
                 progress=None) -> Result:
        prompt, notes = self.text(prompt, "prompt")
        negative_prompt, negative_notes = self.text(negative_prompt, "negative prompt", screen=False)
        notes += negative_notes
        generate, _, digest = self.load()
        image = None
        if image_path is not None:
            image = media.read_image(image_path, size=generate.config.size, fit="crop")
            notes.append(f"image centre-cropped and resized to {generate.config.size} px")
        out = generate(prompt, image=image, negative_prompt=negative_prompt, num_inference_steps=steps,
                       upsampler_steps=upsampler_steps, guidance_scale=guidance, audio_guidance_scale=audio_guidance,
                       num_candidates=candidates, seed=seed, progress=progress, compose_objects=compose_objects)
        record = {"mode": "image_to_video" if image_path else "text_to_video", "prompt": prompt,
                  "negative_prompt": negative_prompt, "image": str(image_path) if image_path else None,
                  "steps": steps, "upsampler_steps": upsampler_steps, "guidance": guidance,
                  "audio_guidance": audio_guidance, "task": out.task,
                  "compose_objects": generate.config.compose_objects if compose_objects is None else compose_objects,
                  "model": str(self.model_dir), "model_hash": digest}
        return Result(out.frames, out.audio, out.seeds, out.task, record, notes)

    def read_source(self, video_path: str) -> tuple[media.Clip, list[str]]:
        """Any video brought to the model's clip format (centre crop), with what was done."""
        cfg = self.load()[1].config
        return media.read_video(video_path, fps=cfg.fps, num_frames=cfg.num_frames, size=cfg.size, fit="crop",
                                sample_rate_hz=cfg.sample_rate_hz)

    def edit(self, video_path: str, instruction: str, task: str | None = None, seed: int | None = None,
             steps: int = defaults.EDIT_STEPS, text_guidance: float = defaults.EDIT_GUIDANCE,
             video_guidance: float = defaults.VIDEO_GUIDANCE, candidates: int = 1,
             keep_audio: bool = False, keep_unedited_pixels: bool = True,
             upsampler_steps: int = defaults.UPSAMPLER_STEPS, compose_objects: bool | None = None,
             progress=None) -> Result:
        instruction, notes = self.text(instruction, "instruction")
        _, edit, digest = self.load()
        source, source_notes = self.read_source(video_path)
        notes += source_notes
        out = edit(source.frames, source.audio, instruction, task=task, num_inference_steps=steps,
                   upsampler_steps=upsampler_steps, text_guidance=text_guidance, video_guidance=video_guidance,
                   num_candidates=candidates, seed=seed, keep_audio=keep_audio,
                   keep_unedited_pixels=keep_unedited_pixels, progress=progress, compose_objects=compose_objects)
        record = {"mode": "edit", "video": str(video_path), "instruction": instruction, "task": out.task,
                  "task_detected": task is None, "steps": steps, "upsampler_steps": upsampler_steps,
                  "text_guidance": text_guidance, "video_guidance": video_guidance, "keep_audio": keep_audio,
                  "keep_unedited_pixels": keep_unedited_pixels,
                  "compose_objects": edit.config.compose_objects if compose_objects is None else compose_objects,
                  "model": str(self.model_dir), "model_hash": digest}
        return Result(out.frames, out.audio, out.seeds, out.task, record, notes, source)

    # ------------------------------------------------------------ outputs

    def write(self, result: Result, index: int, out_path: str | os.PathLike,
              display_scale: int = DISPLAY_SCALE) -> Path:
        return write_result(result, index, out_path, self.clip_format, display_scale)


def read_card(model_dir: Path) -> tuple[str | None, dict | None]:
    """A checkpoint's model card (README.md) and measured metrics (metrics.json), each None
    when absent; read from the folder without loading any weights."""
    readme, metrics = model_dir / "README.md", model_dir / "metrics.json"
    card = readme.read_text(encoding="utf-8", errors="replace") if readme.is_file() else None
    if not metrics.is_file():
        return card, None
    try:
        return card, json.loads(metrics.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{metrics} is not valid JSON: {error}") from None


def write_result(result: Result, index: int, out_path: str | os.PathLike, clip_format: dict,
                 display_scale: int = DISPLAY_SCALE) -> Path:
    """Candidate `index` as an mp4 at `out_path`, and its record beside it (same name, .json)."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    media.write_video(out_path, result.clip(index, clip_format["fps"], clip_format["sample_rate_hz"]),
                      display_scale=display_scale, preset=DISPLAY_PRESET)
    record = {**result.record, "seed": result.seeds[index], "notes": result.notes, "output": out_path.name}
    tmp = out_path.with_name(out_path.name + ".json.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, out_path.with_suffix(".json"))
    return out_path
