"""Stage 1: find the videos and images in the raw folder, recursively.

Caption sidecars (`clip.txt` / `clip.json` next to `clip.mp4`) are attached to their media
file; every other file is reported as rejected with the reason, so a user sees that their
`README.md` or `clip.mp4.part` was looked at and why it was left out. Sources are sorted by
their path so every process of a sharded run sees the same list in the same order.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from studio.prepare.config import IMAGE_EXTENSIONS, SIDECAR_EXTENSIONS, VIDEO_EXTENSIONS


@dataclass(frozen=True)
class Source:
    path: str  # relative to the input folder, "/"-separated
    media: str  # "video" or "image"
    sidecars: tuple[str, ...]  # caption files next to it, relative paths


def rejection(source: str, stage: str, reason: str) -> dict:
    return {"source": source, "stage": stage, "reason": reason}


def _media_kind(name: str) -> str | None:
    extension = os.path.splitext(name)[1].lower()
    if extension in VIDEO_EXTENSIONS:
        return "video"
    if extension in IMAGE_EXTENSIONS:
        return "image"
    return None


def _walk(root: Path) -> list[str]:
    """Every file under root as a relative posix path; links are listed, never followed into."""
    found = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories.sort()
        for name in names:
            found.append((Path(directory) / name).relative_to(root).as_posix())
    return sorted(found)


def discover(root: str | os.PathLike) -> tuple[list[Source], list[dict]]:
    """(media sources, rejections) for everything under `root`, both sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"--input {root} is not a folder")
    paths = _walk(root)
    stems = {}  # "dir/stem" -> media paths with that stem
    for path in paths:
        if _media_kind(path):
            stems.setdefault(os.path.splitext(path)[0], []).append(path)

    sources, rejected = [], []
    for path in paths:
        full = root / path
        kind = _media_kind(path)
        extension = os.path.splitext(path)[1].lower()
        if kind is None and extension in SIDECAR_EXTENSIONS and os.path.splitext(path)[0] in stems:
            continue  # a caption sidecar, used by its media file
        if not full.is_file():
            rejected.append(rejection(path, "discover", "not a regular file (broken link, pipe or device)"))
        elif kind is None:
            rejected.append(rejection(path, "discover", f"not a video or image (extension "
                                                        f"{extension or 'none'!r})"))
        elif full.stat().st_size == 0:
            rejected.append(rejection(path, "discover", "empty file (0 bytes)"))
        else:
            stem = os.path.splitext(path)[0]
            sidecars = tuple(stem + ext for ext in SIDECAR_EXTENSIONS if (root / (stem + ext)).is_file())
            sources.append(Source(path, kind, sidecars))
    return sources, rejected
