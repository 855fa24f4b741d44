"""What makes a run resumable: one small JSON marker per file and stage, written atomically.

A marker holds a stage's result for one source together with the stamp it was computed under
(the source's size and modification time, and a fingerprint of the config fields the stage
reads). A later run reuses a result only while its stamp matches, so a killed run loses only
the files in flight, an edited source or a changed threshold is redone, and nothing else is.
Markers live in DATASET/.prepare/, which also tells a prepared folder from any other.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np

JOURNAL_DIR = ".prepare"
FORMAT_VERSION = 1  # bump when a stage's result changes shape: older markers are then redone


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data), encoding="utf-8")
    os.replace(temporary, path)


def read_json(path: Path):
    """The data, or None when the file is missing or damaged (then the work is simply redone)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def source_key(source: str) -> str:
    return hashlib.sha1(source.encode("utf-8")).hexdigest()[:20]


def file_stamp(path: str) -> dict:
    stat = os.stat(path)
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class Journal:
    def __init__(self, out: Path):
        self.root = Path(out) / JOURNAL_DIR

    def path(self, stage: str, source: str, suffix: str = ".json") -> Path:
        return self.root / stage / (source_key(source) + suffix)

    def load(self, stage: str, source: str, stamp: dict):
        marker = read_json(self.path(stage, source))
        if marker is None or marker.get("version") != FORMAT_VERSION or marker.get("stamp") != stamp:
            return None
        return marker["result"]

    def save(self, stage: str, source: str, stamp: dict, result) -> None:
        write_json(self.path(stage, source), {"version": FORMAT_VERSION, "source": source, "stamp": stamp,
                                              "result": result})

    def save_frames(self, source: str, frames: list[np.ndarray]) -> None:
        path = self.path("keyframes", source, ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez_compressed(temporary, *frames)
        os.replace(temporary, path)

    def load_frames(self, source: str) -> list[np.ndarray]:
        with np.load(self.path("keyframes", source, ".npz")) as archive:
            return [archive[f"arr_{i}"] for i in range(len(archive.files))]
