"""Reading and writing video, audio and images.

Every clip in Flipbook is a `Clip`: uint8 RGB frames plus 16 kHz mono float audio.
Video goes through the ffmpeg binary shipped in `imageio-ffmpeg`, run as a subprocess that
seeks, limits and downscales before frames reach Python, so a long 4K upload costs no more
memory than the few frames asked for. Every failure to read becomes a `MediaError` naming
the file, and every write is atomic (temp file in the same directory, then `os.replace`).
"""

import os
import re
import subprocess
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import imageio_ffmpeg
import numpy as np
import soundfile
from PIL import Image, ImageOps


class MediaError(Exception):
    """A file could not be read or written as media; the message names the file."""


@dataclass
class Clip:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    audio: np.ndarray  # (N,) float32 mono in [-1, 1]
    fps: float = 8.0
    sample_rate_hz: int = 16_000

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps


@dataclass
class VideoInfo:
    width: int  # as displayed, i.e. after the container's rotation is applied
    height: int
    fps: float
    duration_s: float
    num_frames: int  # estimate: duration_s * fps
    has_audio: bool
    audio_sample_rate_hz: int | None = None


FITS = ("crop", "pad")

# Frames are downscaled in ffmpeg to at most this many times the target size, so that PIL's
# better filter does the last step on a small image instead of a 4K one.
_PRESCALE_FACTOR = 4

# ── ffmpeg plumbing ─────────────────────────────────────────────────────────────────────


def _ffmpeg_input(path: str) -> str:
    # The file: protocol stops ffmpeg reading "a:b.mp4" as protocol "a" or "-x.mp4" as an option.
    return "file:" + os.path.abspath(path)


def _check_readable(path) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise MediaError(f"cannot read {path}: no such file")
    if not os.path.isfile(path):
        raise MediaError(f"cannot read {path}: not a file")
    if os.path.getsize(path) == 0:
        raise MediaError(f"cannot read {path}: empty file")
    return path


def _ffmpeg_reason(stderr: str) -> str:
    """The distinct error lines of ffmpeg's log, without its [component @ 0x...] prefixes."""
    reasons = []
    for line in stderr.splitlines():
        line = re.sub(r"^(\[[^\]]*\]\s*)+", "", line).strip()
        line = re.sub(r"^Error opening input(?: files?)?: ", "", line)
        if not line or line.startswith(("At least one output", "Error opening input file")):
            continue
        if line not in reasons:
            reasons.append(line)
    return "; ".join(reasons[:3])[:300] or "ffmpeg could not decode it"


def _seek(start_s: float) -> list[str]:
    # Only when needed: "-ss 0" still drops the first AAC packet, 23 ms of audio.
    return ["-ss", f"{start_s:.6f}"] if start_s > 0 else []


def _ffmpeg_command(args: list[str]) -> list[str]:
    return [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", *args]


def _run_ffmpeg(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(_ffmpeg_command(args), input=stdin, capture_output=True)


# ── probing ─────────────────────────────────────────────────────────────────────────────


def _parse_rate(match: re.Match | None) -> float | None:
    if match is None:
        return None
    return float(match.group(1)) * (1000 if match.group(2) == "k" else 1)


def _clock_seconds(clock: tuple[str, str, str]) -> float:
    hours, minutes, seconds = clock  # ffmpeg's HH:MM:SS.ss
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _remux_stats(path: str) -> tuple[int, float]:
    """(frames, seconds) of the first video stream, by remuxing to nowhere: no decoding.

    For files whose header has no duration, such as webm recorded live in a browser.
    """
    args = ["-i", _ffmpeg_input(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"]
    log = _run_ffmpeg(args).stderr.decode(errors="replace")
    counts = re.findall(r"frame=\s*(\d+)", log)
    times = re.findall(r"time=(\d+):(\d+):([\d.]+)", log)
    return (int(counts[-1]) if counts else 0), (_clock_seconds(times[-1]) if times else 0.0)


def probe(path) -> VideoInfo:
    """Size, frame rate, duration and audio presence of a video file, from ffmpeg's header dump."""
    path = _check_readable(path)
    log = _run_ffmpeg(["-i", _ffmpeg_input(path)]).stderr.decode(errors="replace")
    if "Input #0" not in log:
        raise MediaError(f"cannot read {path}: {_ffmpeg_reason(log)}")
    streams = re.findall(r"^\s*Stream #\d+:\d+.*?: (Video|Audio): (.*)$", log, re.MULTILINE)
    # Cover art in audio files shows up as a one-frame "(attached pic)" video stream.
    videos = [desc for kind, desc in streams if kind == "Video" and "(attached pic)" not in desc]
    audios = [desc for kind, desc in streams if kind == "Audio"]
    if not videos:
        kind = "audio only" if audios else "no streams"
        raise MediaError(f"cannot read {path}: no video stream ({kind})")
    size = re.search(r"(?:^|[ ,])(\d+)x(\d+)(?=[ ,\[]|$)", videos[0])
    fps = _parse_rate(re.search(r"([\d.]+)(k?) fps", videos[0]))
    fps = fps or _parse_rate(re.search(r"([\d.]+)(k?) tbr", videos[0]))
    if size is None or not fps:
        raise MediaError(f"cannot read {path}: video stream has no size or frame rate")
    width, height = int(size.group(1)), int(size.group(2))
    rotation = re.search(r"rotation of (-?[\d.]+) degrees", log, re.IGNORECASE)
    if rotation and round(abs(float(rotation.group(1)))) % 180 == 90:
        width, height = height, width  # ffmpeg autorotates while decoding
    duration = re.search(r"Duration: (\d+):(\d+):([\d.]+)", log)
    if duration:
        duration_s = _clock_seconds(duration.groups())
        num_frames = max(1, round(duration_s * fps))
    else:
        num_frames, duration_s = _remux_stats(path)
        duration_s = duration_s or num_frames / fps
    audio_rate = re.search(r"(\d+) Hz", audios[0]) if audios else None
    return VideoInfo(
        width=width,
        height=height,
        fps=fps,
        duration_s=duration_s,
        num_frames=num_frames,
        has_audio=bool(audios),
        audio_sample_rate_hz=int(audio_rate.group(1)) if audio_rate else None,
    )


# ── fitting frames to a square ──────────────────────────────────────────────────────────


def _check_fit(size: int | None, fit: str) -> None:
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    if size is not None and size < 1:
        raise ValueError(f"size must be a positive number of pixels or None, got {size}")


def _fit_note(width: int, height: int, size: int, fit: str) -> str:
    if fit == "crop":
        side = min(width, height)
        note = f"centre-cropped {width}x{height} to {side}x{side}" if width != height else ""
        resize = f"resized {side}x{side} to {size}x{size}" if side != size else ""
        return ", ".join(part for part in (note, resize) if part)
    if width == height:
        return f"resized {width}x{height} to {size}x{size}" if width != size else ""
    return f"letterboxed {width}x{height} into {size}x{size} with black"


def _fit_square(image: Image.Image, size: int, fit: str) -> Image.Image:
    """Centre-crop or black-pad an RGB image to a size x size square."""
    width, height = image.size
    if fit == "crop":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        return image.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    scale = size / max(width, height)
    inner = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = image.resize(inner, Image.Resampling.LANCZOS, reducing_gap=3.0)
    square = Image.new("RGB", (size, size))
    square.paste(image, ((size - inner[0]) // 2, (size - inner[1]) // 2))
    return square


# ── reading video ───────────────────────────────────────────────────────────────────────


def _prescaled_size(info: VideoInfo, size: int | None, fit: str) -> tuple[int, int]:
    """The frame size ffmpeg hands over: the source, shrunk if it is far larger than needed."""
    if size is None:
        return info.width, info.height
    governing = min(info.width, info.height) if fit == "crop" else max(info.width, info.height)
    scale = min(1.0, _PRESCALE_FACTOR * size / governing)
    return max(1, round(info.width * scale)), max(1, round(info.height * scale))


def _decode_frames(path, info, start_s, window_s, fps, max_frames, size, fit):
    """Frames sampled at `fps` from `start_s` on, streamed one at a time; returns (frames, log)."""
    width, height = _prescaled_size(info, size, fit)
    # fps filter rounding up: output frame k is the source frame on screen at time k / fps
    # (the default "near" picks the one after it), and variable-rate sources come out even.
    # The explicit scale pins the size we read back.
    video_filter = f"fps={fps}:round=up,scale={width}:{height}:flags=area"
    limits = [] if window_s is None else ["-t", f"{window_s:.6f}"]
    limits_out = [] if max_frames is None else ["-frames:v", str(max_frames)]
    args = ["-v", "error", *_seek(start_s), *limits, "-i", _ffmpeg_input(path), "-an",
            "-sn", "-vf", video_filter, *limits_out, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    frame_bytes = width * height * 3
    frames = []
    # stderr goes to a file, not a pipe: a damaged file can log more than a pipe buffer holds,
    # which would block ffmpeg while we block on its stdout.
    with tempfile.TemporaryFile() as log_file:
        process = subprocess.Popen(_ffmpeg_command(args), stdout=subprocess.PIPE, stderr=log_file)
        with process.stdout:
            while max_frames is None or len(frames) < max_frames:
                buffer = process.stdout.read(frame_bytes)
                if len(buffer) < frame_bytes:
                    break
                image = Image.frombuffer("RGB", (width, height), buffer, "raw", "RGB", 0, 1)
                if size is not None:
                    image = _fit_square(image, size, fit)
                frames.append(np.asarray(image))
        process.wait()
        log_file.seek(0)
        log = log_file.read().decode(errors="replace")
    if process.returncode != 0 and not frames:
        raise MediaError(f"cannot read {path}: {_ffmpeg_reason(log)}")
    return frames, log


def _decode_audio(path, start_s, duration_s, sample_rate_hz) -> np.ndarray:
    args = ["-v", "error", *_seek(start_s), "-t", f"{duration_s:.6f}",
            "-i", _ffmpeg_input(path), "-vn", "-sn", "-ac", "1", "-ar", str(sample_rate_hz),
            "-f", "f32le", "-"]
    result = _run_ffmpeg(args)
    if result.returncode != 0:
        reason = _ffmpeg_reason(result.stderr.decode(errors="replace"))
        raise MediaError(f"cannot read the audio of {path}: {reason}")
    return np.frombuffer(result.stdout, dtype=np.float32).copy()  # (N,)


def _fit_length(audio: np.ndarray, num_samples: int, sample_rate_hz: int) -> tuple[np.ndarray, str]:
    """Audio padded with silence or trimmed to `num_samples`, and a note if that was noticeable."""
    have_s, want_s = len(audio) / sample_rate_hz, num_samples / sample_rate_hz
    note = ""
    # AAC priming and frame granularity leave a few ms of slack that is not worth a note.
    if abs(have_s - want_s) > 0.01:
        note = (f"padded audio {have_s:.2f} s to {want_s:.2f} s with silence" if have_s < want_s
                else f"trimmed audio {have_s:.2f} s to {want_s:.2f} s")
    if len(audio) >= num_samples:
        return audio[:num_samples], note
    return np.pad(audio, (0, num_samples - len(audio))), note


def read_video(path, *, fps: float | None = 8.0, num_frames: int | None = 16,
               size: int | None = 64, fit: str = "crop", sample_rate_hz: int = 16_000,
               start_s: float = 0.0) -> tuple[Clip, list[str]]:
    """Any common video as a Clip of exactly `num_frames` frames at `fps`, square `size` px.

    None keeps the source's value (`num_frames=None`: everything from `start_s` on). The
    notes say, in words a person can read, every way the clip differs from the file.
    """
    _check_fit(size, fit)
    if fps is not None and fps <= 0:
        raise ValueError(f"fps must be positive or None, got {fps}")
    if num_frames is not None and num_frames < 1:
        raise ValueError(f"num_frames must be at least 1 or None, got {num_frames}")
    if start_s < 0:
        raise ValueError(f"start_s must not be negative, got {start_s}")
    info = probe(path)
    path = os.fspath(path)
    fps = fps or info.fps
    window_s = None if num_frames is None else num_frames / fps
    available_s = info.duration_s - start_s
    notes = []
    if start_s > 0:
        notes.append(f"started at {start_s:.1f} s")
    if window_s is not None and window_s < available_s - 0.5 / fps:
        notes.append(f"trimmed {available_s:.1f} s to {window_s:.1f} s")
    if abs(fps - info.fps) > 0.01:
        notes.append(f"resampled {info.fps:g} fps to {fps:g} fps")
    if size is not None and (fit_note := _fit_note(info.width, info.height, size, fit)):
        notes.append(fit_note)

    frames, log = _decode_frames(path, info, start_s, window_s, fps, num_frames, size, fit)
    if not frames:
        reason = _ffmpeg_reason(log) if log.strip() else f"video is {info.duration_s:.1f} s long"
        raise MediaError(f"cannot read {path}: no video frames from {start_s:.1f} s on ({reason})")
    promised = int(available_s * fps)
    if num_frames is not None:
        promised = min(promised, num_frames)
    if len(frames) < promised - 1 and log.strip():
        raise MediaError(f"cannot read {path}: truncated or damaged after {len(frames)} of "
                         f"{promised} frames ({_ffmpeg_reason(log)})")
    if num_frames is not None and len(frames) < num_frames:
        notes.append(f"video has only {len(frames) / fps:.1f} s from {start_s:.1f} s: "
                     f"repeated the last frame {num_frames - len(frames)} times")
        frames += [frames[-1]] * (num_frames - len(frames))
    video = np.stack(frames)  # (T, H, W, 3)

    num_samples = round(len(video) / fps * sample_rate_hz)
    if info.has_audio:
        audio = _decode_audio(path, start_s, len(video) / fps, sample_rate_hz)
        if info.audio_sample_rate_hz != sample_rate_hz:
            notes.append(f"resampled audio {info.audio_sample_rate_hz} Hz to {sample_rate_hz} Hz")
        audio, length_note = _fit_length(audio, num_samples, sample_rate_hz)
        notes += [length_note] if length_note else []
    else:
        notes.append("no audio track: silence")
        audio = np.zeros(num_samples, dtype=np.float32)
    return Clip(frames=video, audio=audio, fps=fps, sample_rate_hz=sample_rate_hz), notes


# ── reading images and sound ────────────────────────────────────────────────────────────


def _to_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL mode as (H, W, 3) uint8: 16-bit scaled down, transparency composited on black."""
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N"):
        gray = np.asarray(image).astype(np.float64) / 257.0  # (H, W) 16-bit range to 8-bit
        gray = np.clip(np.round(gray), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA")).astype(np.uint16)  # (H, W, 4)
        return ((rgba[..., :3] * rgba[..., 3:] + 127) // 255).astype(np.uint8)
    return np.array(image.convert("RGB"))  # a copy: np.asarray of a PIL image is read-only


def read_image(path, *, size: int | None = None, fit: str = "crop") -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB, optionally fitted to a size x size square."""
    _check_fit(size, fit)
    path = _check_readable(path)
    # PIL raises a zoo of types on bad files (OSError, SyntaxError, struct.error, ...);
    # catching broadly here is what keeps the promise that only MediaError escapes.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                image = ImageOps.exif_transpose(image)
                pixels = _to_rgb(image)  # (H, W, 3)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise MediaError(f"cannot read {path}: too many pixels, refusing a possible "
                         f"decompression bomb ({error})") from error
    except Exception as error:
        raise MediaError(f"cannot read {path}: not a readable image ({error})") from error
    if size is None:
        return pixels
    return np.array(_fit_square(Image.fromarray(pixels), size, fit))


def read_wav(path) -> tuple[np.ndarray, int]:
    """A sound file as (float32 mono samples, sample rate); channels are averaged."""
    path = _check_readable(path)
    try:
        audio, sample_rate_hz = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as error:  # soundfile raises several types; see read_image
        raise MediaError(f"cannot read {path}: not a readable sound file ({error})") from error
    return audio.mean(axis=1).astype(np.float32), sample_rate_hz  # (N,)


# ── writing ─────────────────────────────────────────────────────────────────────────────


@contextmanager
def _atomic_output(path):
    """A temp path beside `path` that replaces it only if the writer finishes."""
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    try:
        handle, temp_path = tempfile.mkstemp(dir=directory, prefix=f".{name}.",
                                             suffix=os.path.splitext(name)[1])
        os.close(handle)
    except OSError as error:
        raise MediaError(f"cannot write {path}: {error.strerror}") from error
    try:
        yield temp_path
        os.chmod(temp_path, 0o644)  # mkstemp's 0600 would hide the file from a web server
        os.replace(temp_path, path)
    finally:
        if os.path.exists(temp_path):
            os.unlink(temp_path)


def _check_frames(frames: np.ndarray) -> None:
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be non-empty (T, H, W, 3) uint8, got {frames.dtype} "
                         f"{frames.shape}")


def write_video(path, clip: Clip, *, display_scale: int = 1, crf: int = 18, preset: str = "medium") -> None:
    """A browser-playable mp4 (H.264 yuv420p + AAC, faststart) of the clip. `preset` is
    x264's speed/size trade-off (datasets written in bulk use "ultrafast").

    `display_scale` upscales by an integer with nearest neighbour, so 64-px clips show
    crisp and large. Odd sizes get one black row/column, as yuv420p needs even sizes.
    """
    _check_frames(clip.frames)
    if int(display_scale) != display_scale or display_scale < 1:
        raise ValueError(f"display_scale must be a positive integer, got {display_scale}")
    if clip.audio.ndim != 1:
        raise ValueError(f"audio must be mono (N,), got shape {clip.audio.shape}")
    _, height, width, _ = clip.frames.shape
    # Tagged and converted as BT.709 so browsers and our reader agree on the colours.
    video_filter = (f"scale={width * display_scale}:{height * display_scale}:flags=neighbor,"
                    "pad=ceil(iw/2)*2:ceil(ih/2)*2,"
                    "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
                    "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709")
    with tempfile.TemporaryDirectory() as scratch, _atomic_output(path) as temp_path:
        audio_input, audio_output = [], []
        if len(clip.audio):
            wav_path = os.path.join(scratch, "audio.wav")
            soundfile.write(wav_path, np.clip(clip.audio, -1, 1), clip.sample_rate_hz,
                            subtype="FLOAT")
            audio_input = ["-i", wav_path]
            audio_output = ["-map", "1:a", "-c:a", "aac", "-b:a", "96k", "-ac", "1"]
        args = ["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                "-s", f"{width}x{height}", "-framerate", f"{clip.fps}", "-i", "-", *audio_input,
                "-map", "0:v", "-vf", video_filter, "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
                *audio_output, "-movflags", "+faststart", "-f", "mp4", temp_path]
        result = _run_ffmpeg(args, stdin=np.ascontiguousarray(clip.frames).tobytes())
        if result.returncode != 0:
            reason = _ffmpeg_reason(result.stderr.decode(errors="replace"))
            raise MediaError(f"cannot write {path}: {reason}")


def write_wav(path, audio: np.ndarray, sample_rate_hz: int = 16_000) -> None:
    """16-bit PCM WAV, the format every player and browser takes."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono (N,), got shape {audio.shape}")
    with _atomic_output(path) as temp_path:
        soundfile.write(temp_path, np.clip(audio, -1, 1), sample_rate_hz, subtype="PCM_16",
                        format="WAV")


def write_image(path, frame: np.ndarray) -> None:
    """A (H, W, 3) uint8 frame as PNG."""
    _check_frames(np.asarray(frame)[None])
    with _atomic_output(path) as temp_path:
        Image.fromarray(frame).save(temp_path, format="PNG")
