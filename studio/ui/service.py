"""The app's side of a request, below the widgets: check the values, run the shared engine
with progress, write each candidate into the request's own folder, and turn every failure a
user can cause into a `gr.Error` that says what to do.
"""

import hashlib
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from studio import media
from studio.engine import DISPLAY_PRESET, DISPLAY_SCALE, Engine, Result
from studio.engine_process import EngineProcess
from studio.ui import inputs
from studio.ui.inputs import Limits, Upload
from studio.ui.outputs import OutputRoot

MODEL_HELP = ("The shipped checkpoint is assets/shapes in the Flipbook repository (clone it with its assets); "
              "or train one (see the README). Then start the app with --model FOLDER or FLIPBOOK_MODEL=FOLDER, "
              "or load the folder in the Model tab.")
VIDEO_FORMATS = "a video file: mp4, webm, mov, mkv or avi"
IMAGE_FORMATS = "an image file: png, jpg, webp, gif or bmp"
# Random seeds stay below 2^32 so the page's number box (a JavaScript double) shows them exactly.
RANDOM_SEED_BOUND = 2**32


@dataclass
class Outcome:
    videos: list[Path]  # one mp4 per candidate, in the request's folder
    result: Result
    seconds: float
    source_video: Path | None = None  # edits: the source as the model saw it, at display size
    source_key: str | None = None  # edits: the uploaded source's content hash (see file_digest)

    @property
    def seeds(self) -> list[int]:
        return self.result.seeds


def file_digest(path: str | Path) -> str:
    """A content hash that recognises a clip again after Gradio copies it into its cache."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _steps_callback(progress):
    if progress is None:
        return None
    return lambda done, total: progress((done, total), desc="Sampling", unit="steps")


@contextmanager
def user_errors(hint: str = "", uploads: tuple[Upload, ...] = ()):
    """Input failures (`InputError` and the pipelines' checks are ValueErrors) and media
    failures as `gr.Error`, naming uploads as the user named them."""
    try:
        yield
    except (ValueError, media.MediaError) as error:
        message = str(error)
        for upload in uploads:
            message = message.replace(upload.path, upload.name)
        if isinstance(error, media.MediaError) and hint:
            message = f"{message}. Upload {hint}."
        raise gr.Error(message, print_exception=False) from None


class Studio:
    """What every tab shares: the engine (one checkpoint, loaded once; swappable from the
    Model panel), the output root and the limits. `model` is a checkpoint folder, run in this
    process, or an engine: `launch` serves an `EngineProcess`, and a swapped-in model runs
    the way the first one does."""

    def __init__(self, model: str | Path | Engine | EngineProcess, outputs: OutputRoot | None = None,
                 limits: Limits = Limits()):
        self.engine = model if isinstance(model, (Engine, EngineProcess)) else Engine(Path(model))
        self.outputs = outputs or OutputRoot()
        self.limits = limits
        self._swap_lock = threading.Lock()

    # ------------------------------------------------------------ the model

    @staticmethod
    def _load(engine: Engine) -> None:
        if not engine.model_dir.is_dir():
            raise gr.Error(f"The model folder {engine.model_dir} is missing. {MODEL_HELP}", print_exception=False)
        try:
            engine.load()
        except Exception as error:  # any failure reading a user-given folder is the folder's
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise gr.Error(f"Cannot load the model from {engine.model_dir}: {reason}. {MODEL_HELP}",
                           print_exception=False) from None

    def ready_engine(self, progress=None) -> Engine:
        """The current engine with its weights loaded (this request keeps it if the model is swapped)."""
        engine = self.engine
        if not engine.loaded and progress is not None:
            progress(0, desc="Loading the model (once)")
        self._load(engine)
        return engine

    def use_model(self, folder: str) -> Engine:
        """Switch every tab to the checkpoint in `folder`, loading it first so a bad folder
        leaves the current model in place."""
        if not isinstance(folder, str) or not folder.strip():
            raise gr.Error("Type the path of a checkpoint folder (one with model_index.json).",
                           print_exception=False)
        engine = type(self.engine)(Path(folder.strip()).expanduser())
        self._load(engine)
        with self._swap_lock:
            self.engine = engine
        return engine

    # ------------------------------------------------------------ requests

    def _seed(self, raw) -> int:
        seed = inputs.seed(raw)
        return secrets.randbelow(RANDOM_SEED_BOUND) if seed is None else seed

    def _write(self, engine: Engine, result: Result, kind: str) -> list[Path]:
        folder = self.outputs.new_request(kind)
        return [engine.write(result, i, folder / f"flipbook-{kind}-seed{seed}.mp4")
                for i, seed in enumerate(result.seeds)]

    def generate(self, prompt, seed, negative_prompt, steps, guidance, candidates, image=None, with_image=False,
                 progress=None) -> Outcome:
        """Text to video, or with `with_image` image (an upload payload, required) and text to video."""
        limits = self.limits
        upload = None
        with user_errors():
            prompt, notes = inputs.text(prompt, "prompt", "describe the clip, e.g. 'a red circle moving left'",
                                        limits)
            negative_prompt, more = inputs.text(negative_prompt, "negative prompt", "", limits, required=False)
            if with_image:
                upload = inputs.upload(image, "image", IMAGE_FORMATS)
            settings = dict(seed=self._seed(seed), steps=inputs.integer(steps, "steps", 1, limits.max_steps),
                            guidance=inputs.real(guidance, "guidance", 0, limits.max_guidance),
                            candidates=inputs.integer(candidates, "candidates", 1, limits.max_candidates))
        engine = self.ready_engine(progress)
        started = time.perf_counter()
        with user_errors(IMAGE_FORMATS, (upload,) if upload else ()):
            result = engine.generate(prompt, image_path=upload.path if upload else None,
                                     negative_prompt=negative_prompt, progress=_steps_callback(progress),
                                     **settings)
        result.notes[:0] = notes + more
        if upload:
            result.record["image"] = upload.name
        videos = self._write(engine, result, "image" if upload else "text")
        return Outcome(videos, result, time.perf_counter() - started)

    def edit(self, video, instruction, seed, task, steps, text_guidance, video_guidance, candidates, keep_audio,
             keep_unedited_pixels=True, progress=None) -> Outcome:
        limits = self.limits
        with user_errors():
            upload = inputs.upload(video, "source video", VIDEO_FORMATS)
            instruction, notes = inputs.text(instruction, "instruction",
                                             "say what to change, e.g. 'make the circle blue'", limits)
            settings = dict(task=inputs.task(task), seed=self._seed(seed),
                            steps=inputs.integer(steps, "steps", 1, limits.max_steps),
                            text_guidance=inputs.real(text_guidance, "text guidance", 0, limits.max_guidance),
                            video_guidance=inputs.real(video_guidance, "video guidance", 0, limits.max_guidance),
                            candidates=inputs.integer(candidates, "candidates", 1, limits.max_candidates),
                            keep_audio=inputs.flag(keep_audio, "keep audio"),
                            keep_unedited_pixels=inputs.flag(keep_unedited_pixels, "keep unedited pixels"))
        engine = self.ready_engine(progress)
        started = time.perf_counter()
        with user_errors(VIDEO_FORMATS, (upload,)):
            result = engine.edit(upload.path, instruction, progress=_steps_callback(progress),
                                 **settings)
        result.notes[:0] = notes
        result.record["video"] = upload.name
        videos = self._write(engine, result, "edit")
        source_video = videos[0].with_name("source.mp4")
        media.write_video(source_video, result.source, display_scale=DISPLAY_SCALE, preset=DISPLAY_PRESET)
        return Outcome(videos, result, time.perf_counter() - started, source_video, file_digest(upload.path))

    def frame(self, video_path: str | None, index: int) -> Path:
        """Frame `index` (from 1) of a clip as a PNG, to start an image-to-video request from."""
        if not video_path:
            raise gr.Error("There is no clip here yet: generate one first.", print_exception=False)
        with user_errors(VIDEO_FORMATS):
            clip, _ = media.read_video(video_path, fps=None, num_frames=None, size=None)
        path = self.outputs.new_request("frame") / f"frame-{index}.png"
        media.write_image(path, clip.frames[min(max(int(index), 1), len(clip.frames)) - 1])
        return path
