"""Writing a Shapes World training set in the layout the real-video pipeline also writes.

    python -m studio world --out DIR --count N --seed S

DIR/t2v_pairs/video_K.{mp4,wav,txt}, DIR/i2v_pairs/image_K.png + video_K.{mp4,wav,txt},
DIR/edit_pairs/ (source and target clips, instruction, task, and single-frame triplets),
DIR/manifest.jsonl (one record per sample) and DIR/dataset.json (how it was made).
Sample K is drawn from its own seed (S, K), so the output does not depend on the worker count.
"""

import json
import os
from dataclasses import dataclass
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from studio import media
from studio.world import spec
from studio.world.spec import EDIT_TASKS
from studio.world.captions import caption
from studio.world.edits import image_triplet, render_edit, sample_edit
from studio.world.render import render_clip
from studio.world.scene import Holdout, sample_scene

KINDS = ("t2v", "i2v", "edit")  # sample K is of kind KINDS[K % 3]; edit tasks take turns
DATASET_CRF = 10  # near-lossless: these clips are training targets, not previews


@dataclass(frozen=True)
class WorldJob:
    out: Path
    seed: int
    size: int
    holdout: Holdout
    split: str


def _write_clip(out: Path, stem: str, clip: media.Clip) -> dict:
    media.write_video(out / f"{stem}.mp4", clip, crf=DATASET_CRF, preset="ultrafast")
    media.write_wav(out / f"{stem}.wav", clip.audio, clip.sample_rate_hz)
    return {"video": f"{out.name}/{stem}.mp4", "audio": f"{out.name}/{stem}.wav"}


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_sample(job: WorldJob, k: int) -> list[dict]:
    """Render and write sample k; returns its manifest records."""
    rng = np.random.default_rng([job.seed, k])
    kind = KINDS[k % len(KINDS)]
    if kind in ("t2v", "i2v"):
        folder = job.out / f"{kind}_pairs"
        scene = sample_scene(rng, holdout=job.holdout, split=job.split)
        clip = render_clip(scene, job.size)
        record = {"id": f"{kind}/{k}", "kind": kind, "task": "generate", "caption": caption(scene),
                  **_write_clip(folder, f"video_{k}", clip), "scene": scene.to_dict()}
        _write_text(folder / f"video_{k}.txt", record["caption"])
        if kind == "i2v":
            media.write_image(folder / f"image_{k}.png", clip.frames[0])
            record["image"] = f"{folder.name}/image_{k}.png"
        return [record]

    folder = job.out / "edit_pairs"
    edit = sample_edit(rng, EDIT_TASKS[(k // len(KINDS)) % len(EDIT_TASKS)], job.holdout, job.split)  # balanced tasks
    source, target = render_edit(edit, job.size)
    src, tgt = _write_clip(folder, f"source_{k}", source), _write_clip(folder, f"target_{k}", target)
    _write_text(folder / f"instruction_{k}.txt", edit.instruction)
    _write_text(folder / f"edit_{k}.json", json.dumps(edit.to_dict(), indent=1))
    records = [{"id": f"edit/{k}", "kind": "edit", "source_video": src["video"], "source_audio": src["audio"],
                "target_video": tgt["video"], "target_audio": tgt["audio"], **edit.to_dict()}]
    if edit.task != "reverse":
        source_frame, wording, target_frame = image_triplet(rng, edit, job.size)
        media.write_image(folder / f"image_{k}_source.png", source_frame)
        media.write_image(folder / f"image_{k}_target.png", target_frame)
        records.append({"id": f"image_edit/{k}", "kind": "image_edit", "task": edit.task, "instruction": wording,
                        "source_image": f"{folder.name}/image_{k}_source.png",
                        "target_image": f"{folder.name}/image_{k}_target.png"})
    return records


def _write_sample_star(args):
    return write_sample(*args)


def write_world_dataset(out: str | os.PathLike, count: int, seed: int, size: int = spec.REFERENCE_SIZE_PX,
                        holdout: Holdout = Holdout(), split: str = "train", workers: int | None = None) -> Path:
    """Write `count` samples (kinds cycling t2v, i2v, edit) and the manifest; returns its path."""
    if count < 1:
        raise ValueError(f"--count must be at least 1, not {count}")
    if size < 16 or size > 512:
        raise ValueError(f"--size must be between 16 and 512 px, not {size}")
    out = Path(out)
    for kind in KINDS:
        (out / f"{kind}_pairs").mkdir(parents=True, exist_ok=True)
    job = WorldJob(out, seed, size, holdout, split)
    workers = max(1, min(workers or os.cpu_count() or 1, count))
    tasks = [(job, k) for k in range(count)]
    records = []
    with tqdm(total=count, desc="world", unit="sample") as bar:
        if workers == 1:
            results = map(_write_sample_star, tasks)
        else:
            pool = get_context("fork" if "fork" in get_all_start_methods() else "spawn").Pool(workers)
            results = pool.imap(_write_sample_star, tasks, chunksize=8)
        for sample_records in results:
            records.extend(sample_records)
            bar.update(1)
        if workers > 1:
            pool.close()
            pool.join()
    manifest = out / "manifest.jsonl"
    _write_text(manifest, "\n".join(json.dumps(r) for r in records))
    info = {"source": "shapes-world", "spec_version": 1, "count": count, "seed": seed, "size": size,
            "split": split, "holdout": holdout.to_strings(), "fps": spec.FPS, "num_frames": spec.NUM_FRAMES,
            "sample_rate_hz": spec.SAMPLE_RATE_HZ}
    _write_text(out / "dataset.json", json.dumps(info, indent=1))
    return manifest
