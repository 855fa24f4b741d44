"""Stage 5: quality and compliance — sharpness, lighting, resolution and duration.

Sharpness is the variance of the Laplacian, taken per tile and divided by the tile's own
luma variance, and the sharpest tile counts. Both choices come from the footage we must not
reject: a small sharp object on a flat background (most of the frame has no edges at all)
and a dim or low-contrast scene (raw Laplacian variance falls with contrast squared, so it
would call every dark clip blurred). Blur spreads an edge's second derivative thin relative
to the step it smooths, which is what the ratio measures.

Lighting looks at the brightest and darkest 1 %, not only the mean: a black background with
one lit object is a fine clip, a frame where nothing is brighter than dim grey is not. Only
blown highlights count as clipped: pure black is what space and night skies look like.
"""

import numpy as np

from studio.prepare.config import PrepareConfig

MIN_TILE_STD = 6.0  # luma levels; flatter tiles hold only compression noise, not edges


def luma(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)  # (H, W)


def sharpness(frame: np.ndarray) -> float | None:
    """Laplacian variance over luma variance in the sharpest tile; None for a featureless frame.

    On luma because that is the channel video codes at full resolution: the upsampled chroma
    of yuv420p has steps of its own that would pass for detail.
    """
    gray = luma(frame)
    laplacian = (gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:]
                 - 4 * gray[1:-1, 1:-1])  # (H-2, W-2)
    inner = gray[1:-1, 1:-1]
    tile = max(8, min(inner.shape) // 4)
    best = None
    for top in range(0, inner.shape[0] - tile + 1, tile):
        for left in range(0, inner.shape[1] - tile + 1, tile):
            block = inner[top:top + tile, left:left + tile]
            if block.std() >= MIN_TILE_STD:
                edges = laplacian[top:top + tile, left:left + tile]
                best = max(best or 0.0, float(edges.var() / block.var()))
    return best


def lighting(frame: np.ndarray) -> dict:
    gray = luma(frame)
    dark_luma, bright_luma = np.percentile(gray, [1, 99])
    return {"mean_luma": float(gray.mean()), "bright_luma": float(bright_luma), "dark_luma": float(dark_luma),
            "clipped_fraction": float((gray >= 253).mean())}


def measure(frames: list[np.ndarray]) -> dict:
    """Medians over the key frames, so one black fade-in frame does not decide.

    Sharpness is the median over the frames that have any luma detail: a title card fading to
    black is not blurred. A clip with none in any key frame (a flat colour, or a yellow shape on
    beige, which differ in chroma only) has no sharpness to judge: None, and it is not rejected.
    """
    lights = [lighting(frame) for frame in frames]
    measures = {key: round(float(np.median([m[key] for m in lights])), 4) for key in lights[0]}
    detailed = [value for value in map(sharpness, frames) if value is not None]
    measures["sharpness"] = round(float(np.median(detailed)), 4) if detailed else None
    return measures


def check(record: dict, config: PrepareConfig) -> str | None:
    """Why the clip fails quality, or None. `record` has the source facts and `measure`'s keys."""
    short_side = min(record["width"], record["height"])
    if short_side < config.min_short_side_px:
        return f"resolution {record['width']}x{record['height']} below {config.min_short_side_px} px short side"
    if record["media"] == "video" and record["duration_s"] < config.required_duration_s - 0.5 / config.fps:
        return f"too short: {record['duration_s']:.2f} s, need {config.required_duration_s:.2f} s"
    if record["mean_luma"] < config.dark_max_mean_luma and record["bright_luma"] < config.dark_max_bright_luma:
        return (f"too dark: mean luma {record['mean_luma']:.0f}, brightest 1 % at {record['bright_luma']:.0f} "
                f"(limits {config.dark_max_mean_luma:g} / {config.dark_max_bright_luma:g})")
    if record["mean_luma"] > config.bright_min_mean_luma and record["dark_luma"] > config.bright_min_dark_luma:
        return (f"too bright: mean luma {record['mean_luma']:.0f}, darkest 1 % at {record['dark_luma']:.0f} "
                f"(limits {config.bright_min_mean_luma:g} / {config.bright_min_dark_luma:g})")
    if record["clipped_fraction"] > config.clipped_max_fraction:
        return (f"clipped highlights: {record['clipped_fraction']:.0%} of pixels pure white "
                f"(limit {config.clipped_max_fraction:.0%})")
    if record["sharpness"] is not None and record["sharpness"] < config.blur_min_sharpness:
        return f"blurred: sharpness {record['sharpness']:.3f} below {config.blur_min_sharpness:g}"
    return None
