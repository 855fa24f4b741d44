"""Drawing a scene: anti-aliased frames at any square size, and the singing objects' audio."""

import numpy as np

from studio.media import Clip
from studio.world import spec
from studio.world.scene import Scene, WorldObject

SUPERSAMPLING = 4  # sub-pixels per axis for edge coverage (anti-aliasing)


def _inside(shape: str, px: np.ndarray, py: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray:
    half = side / 2
    if shape == "circle":
        return (px - cx) ** 2 + (py - cy) ** 2 <= half**2
    if shape == "square":
        return (np.abs(px - cx) <= half) & (np.abs(py - cy) <= half)
    if shape == "triangle":  # isosceles, apex up, base = height = side
        top = cy - half
        return (py >= top) & (py <= cy + half) & (np.abs(px - cx) <= (py - top) / 2)
    raise ValueError(f"unknown shape {shape!r}")


def coverage(shape: str, cx: float, cy: float, side: float, frame_size: int) -> tuple[np.ndarray, tuple]:
    """Fraction of each pixel the shape covers, on the shape's bounding window only.

    Returns (coverage (h, w) float32, (y_slice, x_slice)) so callers composite in place.
    """
    half = side / 2
    x_lo, x_hi = max(int(np.floor(cx - half)), 0), min(int(np.ceil(cx + half)), frame_size)
    y_lo, y_hi = max(int(np.floor(cy - half)), 0), min(int(np.ceil(cy + half)), frame_size)
    ss = SUPERSAMPLING
    offsets = (np.arange(ss) + 0.5) / ss
    xs = (np.arange(x_lo, x_hi)[:, None] + offsets).reshape(-1)  # sub-pixel centres
    ys = (np.arange(y_lo, y_hi)[:, None] + offsets).reshape(-1)
    inside = _inside(shape, xs[None, :], ys[:, None], cx, cy, side)  # (h*ss, w*ss)
    cov = inside.reshape(y_hi - y_lo, ss, x_hi - x_lo, ss).mean(axis=(1, 3), dtype=np.float32)
    return cov, (slice(y_lo, y_hi), slice(x_lo, x_hi))


def render_frames(scene: Scene, size: int = spec.REFERENCE_SIZE_PX, num_frames: int = spec.NUM_FRAMES,
                  highlight: int | None = None) -> np.ndarray:
    """Frames (T, size, size, 3) uint8. `highlight` paints that object marker magenta (the
    `segment` edit)."""
    scale = size / spec.REFERENCE_SIZE_PX
    canvas = np.empty((num_frames, size, size, 3), np.float32)
    canvas[:] = spec.BACKGROUNDS[scene.background]
    for index, obj in enumerate(scene.objects):
        rgb = np.array(spec.MARKER_MAGENTA if index == highlight else spec.COLOURS[obj.colour], np.float32)
        for t, (cx, cy) in enumerate(obj.centres(num_frames) * scale):
            cov, window = coverage(obj.shape, cx, cy, obj.size_px * scale, size)
            region = canvas[t][window]
            region += cov[..., None] * (rgb - region)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- audio

def _waveform(kind: str, phase: np.ndarray) -> np.ndarray:
    if kind == "sine":
        return np.sin(phase)
    if kind == "square":
        return np.where(np.sin(phase) >= 0, 1.0, -1.0)
    if kind == "triangle":
        return 2 / np.pi * np.arcsin(np.sin(phase))
    raise ValueError(f"unknown waveform {kind!r}")


def object_pitch_hz(obj: WorldObject, num_samples: int = spec.NUM_SAMPLES) -> np.ndarray:
    """Per-sample fundamental: the spec's pitch of the object's height, linear between
    frame centres (held at the first and last centres)."""
    num_frames = num_samples // spec.SAMPLES_PER_FRAME
    frame_centres_s = (np.arange(num_frames) + 0.5) / spec.FPS
    y = obj.centres(num_frames)[:, 1]
    t = np.arange(num_samples) / spec.SAMPLE_RATE_HZ
    y_t = np.interp(t, frame_centres_s, y)
    return spec.pitch_hz(y_t, spec.REFERENCE_SIZE_PX)


def render_audio(scene: Scene, num_samples: int = spec.NUM_SAMPLES) -> np.ndarray:
    """Mono audio (N,) float32 at 16 kHz: each object's tone, summed and clipped."""
    mix = np.zeros(num_samples, np.float64)
    for obj in scene.objects:
        phase = 2 * np.pi * np.cumsum(object_pitch_hz(obj, num_samples)) / spec.SAMPLE_RATE_HZ
        mix += spec.AMPLITUDE[obj.size] * _waveform(spec.WAVEFORM[obj.shape], phase)
    return np.clip(mix, -1.0, 1.0).astype(np.float32)


def render_clip(scene: Scene, size: int = spec.REFERENCE_SIZE_PX, highlight: int | None = None) -> Clip:
    return Clip(frames=render_frames(scene, size, highlight=highlight), audio=render_audio(scene),
                fps=spec.FPS, sample_rate_hz=spec.SAMPLE_RATE_HZ)
