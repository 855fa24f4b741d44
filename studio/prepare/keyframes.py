"""Stage 2: the first, middle and last frame of each video, small.

Every later judgement (duplicates, blur, lighting, zero-shot safety) looks at these three
frames only, so a long 4K file costs three seeks, not a decode. Frames come out with their
short side at `analysis_short_side_px` (never upscaled), so measures do not depend on the
source resolution. `media.read_video` is not used here: it re-probes and decodes audio on
every call, and cannot ask for "the last frame there is".

The last frame doubles as a truncation check: a file cut short still has the full duration
in its header, and no frame can be decoded near its end.
"""

import os
import re
import subprocess
from dataclasses import dataclass

import imageio_ffmpeg
import numpy as np
from PIL import Image

from studio import media

LAST_FRAME_WINDOW_S = 1.0  # decode this much before the end and keep the last frame


@dataclass
class KeyFrames:
    frames: list[np.ndarray]  # 3 x (h, w, 3) uint8: first, middle, last
    width: int  # of the source, as displayed
    height: int
    duration_s: float  # 0 for an image
    fps: float  # 0 for an image
    has_audio: bool


def analysis_size(width: int, height: int, short_side_px: int) -> tuple[int, int]:
    scale = min(1.0, short_side_px / min(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _ffmpeg_error(stderr: bytes) -> str:
    """ffmpeg's last distinct error lines, without the "[component @ 0x55...]" prefixes that
    would make the same failure read differently on every run."""
    lines = [re.sub(r"^(\[[^\]]*\]\s*)+", "", line).strip() for line in stderr.decode(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    return "; ".join(dict.fromkeys(lines[-3:]))[:300] or "ffmpeg could not decode it"


def _decode(path: str, start_s: float, width: int, height: int, window_s: float | None) -> list[np.ndarray]:
    """Frames from `start_s` on, scaled to width x height: one frame, or all in `window_s`."""
    seek = ["-ss", f"{start_s:.6f}"] if start_s > 0 else []
    limit = ["-frames:v", "1"] if window_s is None else ["-t", f"{window_s:.6f}"]
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", *seek,
               "-i", "file:" + os.path.abspath(path), "-an", "-sn", "-dn",
               "-vf", f"scale={width}:{height}:flags=area", *limit, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    result = subprocess.run(command, capture_output=True)
    frame_bytes = width * height * 3
    count = len(result.stdout) // frame_bytes
    if count == 0:
        reason = _ffmpeg_error(result.stderr) if result.stderr.strip() else "no frame there"
        raise media.MediaError(f"cannot decode a frame of {path} at {start_s:.2f} s: {reason}")
    frames = np.frombuffer(result.stdout[: count * frame_bytes], np.uint8)
    return list(frames.reshape(count, height, width, 3))


def video_keyframes(path: str, short_side_px: int) -> KeyFrames:
    info = media.probe(path)
    if info.duration_s <= 0:
        raise media.MediaError(f"cannot read {path}: it has no duration")
    width, height = analysis_size(info.width, info.height, short_side_px)
    first = _decode(path, 0.0, width, height, None)[0]
    middle = _decode(path, info.duration_s / 2, width, height, None)[0]
    tail_start = max(0.0, info.duration_s - LAST_FRAME_WINDOW_S)
    try:
        last = _decode(path, tail_start, width, height, LAST_FRAME_WINDOW_S + 1.0)[-1]
    except media.MediaError as error:
        raise media.MediaError(f"truncated or damaged: the header says {info.duration_s:.1f} s but no frame "
                               f"decodes after {tail_start:.1f} s ({error})") from error
    return KeyFrames([first, middle, last], info.width, info.height, info.duration_s, info.fps, info.has_audio)


def image_keyframes(path: str, short_side_px: int) -> KeyFrames:
    pixels = media.read_image(path)  # (H, W, 3)
    height, width = pixels.shape[:2]
    small = Image.fromarray(pixels).resize(analysis_size(width, height, short_side_px), Image.Resampling.BOX)
    frame = np.asarray(small)
    return KeyFrames([frame, frame, frame], width, height, 0.0, 0.0, False)
