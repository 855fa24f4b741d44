"""Check a Shapes World dataset folder against its own captions, from the files alone.

    python -m studio.evaluation.check_world DIR [--workers N]

The judge knows only the spec: it reads each captioned clip (mp4 frames, wav samples) and
the clip agrees when the background, the number of objects and every attribute the caption
names are what the judge sees, and the sound agrees with the picture (the spec's pitch for
each object's height on >= 95 % of frames, each object's waveform). Prints the agreement
rate and every clip that disagrees.
"""

import argparse
import itertools
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from studio import media
from studio.evaluation.judge import ClipReport, audio_matches, judge_clip
from studio.world.captions import parse_caption

PITCH_FRAMES_REQUIRED = 0.95


def caption_disagreements(report: ClipReport, caption: str) -> list[str]:
    """Everything in `report` that contradicts `caption` (empty when they agree)."""
    background, objects = parse_caption(caption)
    wrong = [] if background in (None, report.background) else [f"background {report.background}"]
    if len(report.objects) != len(objects):
        return wrong + [f"{len(report.objects)} objects for {len(objects)}"]
    best = None
    for order in itertools.permutations(report.objects):
        misses = [f"{key} {getattr(seen, key)} for {want}" for named, seen in zip(objects, order)
                  for key, want in named.items() if getattr(seen, key) != want]
        best = misses if best is None or len(misses) < len(best) else best
    wrong += best
    agreement = audio_matches(report)
    if agreement.pitch_fraction < PITCH_FRAMES_REQUIRED:
        wrong.append(f"pitch right on {agreement.pitch_fraction:.0%} of frames")
    if not agreement.timbre_ok:
        wrong.append(f"timbre {report.timbre}")
    return wrong


def check_record(folder: Path, record: dict) -> tuple[str, list[str]]:
    video = folder / record["video"]
    caption = video.with_suffix(".txt").read_text(encoding="utf-8").strip()
    clip, _ = media.read_video(video, fps=None, num_frames=None, size=None)
    audio, rate = media.read_wav(folder / record["audio"])
    clip = media.Clip(clip.frames, audio, clip.fps, rate)
    return record["id"], caption_disagreements(judge_clip(clip), caption)


def captioned_records(folder: Path) -> list[dict]:
    manifest = folder / "manifest.jsonl"
    if not manifest.is_file():
        raise ValueError(f"{folder} has no manifest.jsonl: not a dataset written by `python -m studio world`")
    lines = manifest.read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, filter(None, lines)) if "caption" in r]


def check_world(folder: Path, workers: int = 2) -> tuple[int, list[tuple[str, list[str]]]]:
    """(clips checked, [(id, disagreements)] for those that disagree)."""
    records = captioned_records(folder)
    with ProcessPoolExecutor(workers) as pool:
        results = list(tqdm(pool.map(check_record, itertools.repeat(folder), records, chunksize=8),
                            total=len(records), desc="checking", unit="clip"))
    return len(records), [(clip_id, wrong) for clip_id, wrong in results if wrong]


def run(args: argparse.Namespace) -> None:
    total, failures = check_world(Path(args.folder), args.workers)
    for clip_id, wrong in failures:
        print(f"{clip_id}: {'; '.join(wrong)}")
    rate = 1 - len(failures) / total if total else 0.0
    print(f"agreement with captions: {total - len(failures)}/{total} clips ({rate:.1%})")


def main(argv: list[str] | None = None) -> int:
    from studio.cli import run_guarded

    parser = argparse.ArgumentParser(prog="python -m studio.evaluation.check_world",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a folder written by `python -m studio world`")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    return run_guarded(run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
