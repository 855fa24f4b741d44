"""Stage 8: writing a kept sample in the layout `python -m studio world` writes.

DIR/t2v_pairs/video_K.{mp4,wav,txt} and DIR/i2v_pairs/image_K.png + video_K.{mp4,wav,txt},
with manifest records carrying the same keys as the world's (`id`, `kind`, `task`, `caption`,
`video`, `audio`, `image`; paths relative to DIR) plus `source`, `caption_source` and `notes`,
so the training scripts read both the same way. Every file is written atomically.
"""

import os
import re
from pathlib import Path

import numpy as np

from studio import media
from studio.prepare.config import PrepareConfig

OUTPUT_NAME = re.compile(r"^(video|image)_\d+\.(mp4|wav|txt|png)$")


def write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def kind_of(k: int, config: PrepareConfig) -> str:
    return config.kinds[k % len(config.kinds)]


def write_sample(out: Path, k: int, clip: media.Clip, caption: str, config: PrepareConfig) -> dict:
    """Writes sample k's files; returns its manifest record without `source` fields."""
    kind = kind_of(k, config)
    folder = out / f"{kind}_pairs"
    folder.mkdir(parents=True, exist_ok=True)
    media.write_video(folder / f"video_{k}.mp4", clip, crf=config.crf)
    media.write_wav(folder / f"video_{k}.wav", clip.audio, clip.sample_rate_hz)
    write_text(folder / f"video_{k}.txt", caption + "\n")
    record = {"id": f"{kind}/{k}", "kind": kind, "task": "generate", "caption": caption,
              "video": f"{folder.name}/video_{k}.mp4", "audio": f"{folder.name}/video_{k}.wav"}
    if kind == "i2v":
        media.write_image(folder / f"image_{k}.png", clip.frames[0])
        record["image"] = f"{folder.name}/image_{k}.png"
    return record


def thumbnail_strip(clip: media.Clip) -> np.ndarray:
    """First, middle and last frame side by side, for the contact sheet: (size, 3 * size, 3)."""
    frames = clip.frames
    return np.concatenate([frames[0], frames[len(frames) // 2], frames[-1]], axis=1)


def remove_orphans(out: Path, records: list[dict]) -> int:
    """Deletes sample files no record refers to (left by an earlier run); returns how many."""
    referenced = {record[key] for record in records for key in ("video", "audio", "image") if key in record}
    referenced |= {record["video"][:-4] + ".txt" for record in records}
    removed = 0
    for kind in ("t2v", "i2v"):
        folder = out / f"{kind}_pairs"
        for path in sorted(folder.glob("*")) if folder.is_dir() else []:
            if OUTPUT_NAME.match(path.name) and f"{folder.name}/{path.name}" not in referenced:
                path.unlink()
                removed += 1
    return removed
