"""Running the stages over a raw folder, in worker processes and across Accelerate ranks.

Every rank of `accelerate launch -m studio.prepare ...` (or the one process of a plain run)
goes through four phases; the output folder is shared and the journal in it is how ranks
hand results to each other:

  A. this rank's shard of the files, in worker processes: key frames and their measures;
     then, with a CLIP-like model, embeddings and zero-shot safety scores;
  -- all ranks wait --
  B. every rank, from all ranks' results: the filters and the deduplication. They are
     cheap and deterministic, so all ranks agree on the kept clips and their numbering
     without sending anything;
  C. this rank's shard of the kept clips: caption, trim, write;
  -- all ranks wait --
  D. rank 0 alone: manifest, rejected list, summary and contact sheet, sorted by source path
     so the output does not depend on the number of ranks or workers.

Input files are only ever opened for reading.
"""

import hashlib
import json
import os
import time
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from studio import media
from studio.media import MediaError
from studio.prepare import captions, dedup, quality, report, safety, trim, write
from studio.prepare.config import PrepareConfig
from studio.prepare.discover import Source, discover, rejection
from studio.prepare.journal import JOURNAL_DIR, Journal, file_stamp, read_json, write_json
from studio.prepare.keyframes import image_keyframes, video_keyframes

# The config fields each journalled result depends on.
ANALYSIS_FIELDS = ("analysis_short_side_px",)
CLIP_FIELDS = ("analysis_short_side_px", "clip_model", "unsafe", "safe", "unsafe_min_probability")
CAPTION_FIELDS = ("caption_model", "caption_max_words", "analysis_short_side_px")
WRITE_FIELDS = ("seconds", "fps", "size", "sample_rate_hz", "crf", "kinds", "unsafe")  # unsafe: generated captions
QUICK_HASH_BYTES = 1 << 20
CLIP_BATCH_FILES = 8


@dataclass(frozen=True)
class Job:
    """What a worker process needs; small and picklable."""
    root: str
    out: str
    config: PrepareConfig


@dataclass
class PrepareResult:
    kept: int
    rejected: list[dict]
    rows: list[dict]
    did_work: bool
    message: str


# ── phase A: per-file analysis (worker processes) ─────────────────────────────────────────


def quick_hash(path: str) -> str:
    """Size plus the first and last MiB: tells identical files apart without reading 50 GB."""
    digest = hashlib.sha256(str(os.path.getsize(path)).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(QUICK_HASH_BYTES))
        handle.seek(max(0, os.path.getsize(path) - QUICK_HASH_BYTES))
        digest.update(handle.read(QUICK_HASH_BYTES))
    return digest.hexdigest()


def _reason(error: Exception, root: str) -> str:
    return str(error).replace(os.path.abspath(root) + os.sep, "")


def analysis_stamp(job: Job, source: str) -> dict:
    return {**file_stamp(os.path.join(job.root, source)), "config": job.config.fingerprint(*ANALYSIS_FIELDS)}


def analyse_file(job: Job, source: Source) -> str:
    """Key frames, quality measures and signature of one file, journalled; returns its path."""
    path = os.path.join(job.root, source.path)
    stamp = analysis_stamp(job, source.path)
    journal = Journal(job.out)
    try:
        extract = video_keyframes if source.media == "video" else image_keyframes
        keyframes = extract(path, job.config.analysis_short_side_px)
        record = {"source": source.path, "media": source.media, "width": keyframes.width,
                  "height": keyframes.height, "duration_s": keyframes.duration_s, "fps": keyframes.fps,
                  "has_audio": keyframes.has_audio, "bytes": stamp["bytes"], "content_hash": quick_hash(path),
                  "bitrate_bps": stamp["bytes"] * 8 / max(keyframes.duration_s, 1.0),
                  **quality.measure(keyframes.frames), **dedup.signature(keyframes.frames)}
        journal.save_frames(source.path, keyframes.frames)
        result = {"record": record}
    except MediaError as error:
        result = {"rejected": rejection(source.path, "keyframes", _reason(error, job.root))}
    except Exception as error:  # bad input never stops the run, whatever the decoder throws
        result = {"rejected": rejection(source.path, "keyframes",
                                        f"could not be analysed ({type(error).__name__}: {_reason(error, job.root)})")}
    journal.save("analysis", source.path, stamp, result)
    return source.path


def _call(task):
    function, *args = task
    return function(*args)


def _parallel(function, tasks: list[tuple], workers: int, bar: tqdm):
    """Runs function(*task) for every task, in worker processes when there are several."""
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield function(*task)
            bar.update(1)
        return
    with get_context("spawn").Pool(min(workers, len(tasks))) as pool:
        for result in pool.imap_unordered(_call, [(function, *task) for task in tasks]):
            bar.update(1)
            yield result


# ── phase A, second half: the CLIP-like model (this process) ──────────────────────────────


def _model_stamp(path: str) -> dict:
    weights = sorted(Path(path).glob("*.safetensors"))
    return {"path": os.path.abspath(path), **(file_stamp(str(weights[0])) if weights else {})}


def clip_stamp(job: Job, source: str) -> dict:
    return {**analysis_stamp(job, source), "config": job.config.fingerprint(*CLIP_FIELDS),
            "model": _model_stamp(job.config.clip_model)}


def score_with_clip(job: Job, sources: list[str], bar: tqdm) -> int:
    """Embeddings and zero-shot safety for files not yet scored; returns how many were scored."""
    from studio.prepare.models import ClipModel

    journal = Journal(job.out)
    pending = [s for s in sources if journal.load("clip", s, clip_stamp(job, s)) is None]
    bar.update(len(sources) - len(pending))
    if not pending:
        return 0
    model = ClipModel(job.config.clip_model)
    prompts = model.embed_texts(safety.zero_shot_prompts(job.config))  # (P, D)
    for start in range(0, len(pending), CLIP_BATCH_FILES):
        batch = pending[start:start + CLIP_BATCH_FILES]
        frames = [journal.load_frames(source) for source in batch]
        embeddings = model.embed_images([f for three in frames for f in three])  # (3 * files, D)
        for index, source in enumerate(batch):
            mine = embeddings[3 * index: 3 * index + 3]  # (3, D)
            mean = mine.mean(axis=0)
            result = {"embedding": (mean / np.linalg.norm(mean)).round(6).tolist(),
                      "unsafe": safety.zero_shot_reason(mine, prompts, model.logit_scale, job.config)}
            journal.save("clip", source, clip_stamp(job, source), result)
        bar.update(len(batch))
    return len(pending)


# ── phase B: filters and deduplication (every rank, deterministic) ────────────────────────


@dataclass
class Plan:
    kept: list[dict]  # analysis records of the clips to write, sorted by source; K is the index
    group_sidecars: list[list[str]]  # per kept clip: sidecars of it and of its removed duplicates
    rejected: list[dict]


CHANGED = "the file changed while it was being prepared; run again to include it"


def decide(job: Job, sources: list[Source], rejected: list[dict], quiet: bool) -> Plan:
    journal, config = Journal(job.out), job.config
    by_path = {source.path: source for source in sources}
    records, clip = [], []
    for source in sources:
        result = journal.load("analysis", source.path, analysis_stamp(job, source.path))
        scores = journal.load("clip", source.path, clip_stamp(job, source.path)) if config.clip_model else {}
        if result is None or (scores is None and "record" in result):
            rejected.append(rejection(source.path, "keyframes", CHANGED))
        elif "rejected" in result:
            rejected.append(result["rejected"])
        else:
            records.append(result["record"])
            clip.append(scores)

    verdicts = []
    for index, record in enumerate(tqdm(records, desc="filters", unit="file", disable=quiet)):
        sidecar = captions.sidecar_caption(job.root, by_path[record["source"]].sidecars)
        unsafe = (safety.text_reason(record["source"], config, "the file name")
                  or (safety.text_reason(sidecar, config, "the caption") if sidecar else None)
                  or clip[index].get("unsafe"))
        verdicts.append((("safety", unsafe), ("quality", quality.check(record, config)),
                         ("size", trim.size_reason(record, config))))
    passes = [not any(reason for _, reason in verdict) for verdict in verdicts]
    embeddings = np.array([c["embedding"] for c in clip], np.float32) if config.clip_model and clip else None
    kept_indices, duplicate_reasons, groups = dedup.deduplicate(records, config, passes, embeddings)

    kept, group_sidecars = [], []
    kept_set = set(kept_indices)
    for index, record in enumerate(records):
        if index not in kept_set:
            rejected.append(rejection(record["source"], "dedup", duplicate_reasons[index]))
            continue
        failure = next(((stage, reason) for stage, reason in verdicts[index] if reason), None)
        if failure:
            rejected.append(rejection(record["source"], *failure))
            continue
        kept.append(record)
        group_sidecars.append([s for member in groups[index] for s in by_path[records[member]["source"]].sidecars])
    return Plan(kept, group_sidecars, rejected)


# ── phase C: captions, trim and write (this rank's shard of the kept clips) ───────────────


def _caption_stamp(job: Job, source: str) -> dict:
    return {**analysis_stamp(job, source), "config": job.config.fingerprint(*CAPTION_FIELDS),
            "model": _model_stamp(job.config.caption_model)}


def caption_clips(job: Job, plan: Plan, own: list[int], bar: tqdm) -> tuple[dict[int, tuple[str, str]], dict]:
    """(caption, caption_source) per kept index of this shard, and the model's work counts."""
    journal, chosen, pending, reused = Journal(job.out), {}, [], 0
    for k in own:
        source = plan.kept[k]["source"]
        sidecar = captions.sidecar_caption(job.root, plan.group_sidecars[k])
        if sidecar:
            chosen[k] = (sidecar, "sidecar")
        elif job.config.caption_model:
            cached = journal.load("captions", source, _caption_stamp(job, source))
            if cached is not None:
                chosen[k] = (cached, "model")
                reused += 1
            else:
                pending.append(k)
        else:
            chosen[k] = (captions.filename_caption(source), "filename")
    bar.update(len(own) - len(pending))
    if pending:
        from studio.prepare.models import Captioner

        model = Captioner(job.config.caption_model, job.config.caption_max_words)
        for start in range(0, len(pending), CLIP_BATCH_FILES):
            batch = pending[start:start + CLIP_BATCH_FILES]
            texts = model.caption([journal.load_frames(plan.kept[k]["source"])[0] for k in batch])
            for k, text in zip(batch, texts):
                journal.save("captions", plan.kept[k]["source"], _caption_stamp(job, plan.kept[k]["source"]), text)
                chosen[k] = (text, "model")
            bar.update(len(batch))
    for k in [k for k, (text, _) in chosen.items() if not text]:  # the model said nothing
        chosen[k] = (captions.filename_caption(plan.kept[k]["source"]), "filename")
    return chosen, {"done": len(pending), "reused": reused}


def write_stamp(job: Job, record: dict, k: int, caption: tuple[str, str]) -> dict:
    return {**analysis_stamp(job, record["source"]), "config": job.config.fingerprint(*WRITE_FIELDS),
            "k": k, "caption": list(caption)}


def written(job: Job, record: dict, k: int, caption: tuple[str, str]) -> dict | None:
    """The journalled result of writing clip k, while it is current and its files are all there."""
    result = Journal(job.out).load("written", record["source"], write_stamp(job, record, k, caption))
    if result is None or "rejected" in result:
        return result
    paths = [result["record"][key] for key in ("video", "audio", "image") if key in result["record"]]
    return result if all((Path(job.out) / path).is_file() for path in paths) else None


def write_clip(job: Job, record: dict, k: int, caption: str, caption_source: str) -> str:
    """Trims, writes and journals kept clip k (in a worker); returns its source path."""
    journal, source = Journal(job.out), record["source"]
    stamp = write_stamp(job, record, k, (caption, caption_source))
    unsafe = safety.text_reason(caption, job.config, "the generated caption") if caption_source != "sidecar" else None
    try:
        if unsafe:
            result = {"rejected": rejection(source, "captions", unsafe)}
        else:
            clip, notes = trim.trimmed_clip(os.path.join(job.root, source), record["media"], job.config)
            sample = write.write_sample(Path(job.out), k, clip, caption, job.config)
            thumbnail = journal.path("thumbs", source, ".png")
            thumbnail.parent.mkdir(parents=True, exist_ok=True)
            media.write_image(thumbnail, write.thumbnail_strip(clip))
            result = {"record": {**sample, "source": source, "caption_source": caption_source, "notes": notes}}
    except MediaError as error:
        result = {"rejected": rejection(source, "trim", _reason(error, job.root))}
    journal.save("written", source, stamp, result)
    return source


# ── phase D: the merge (rank 0) ───────────────────────────────────────────────────────────


def _lines(items: list[dict]) -> str:
    return "".join(json.dumps(item) + "\n" for item in items)


def merge(job: Job, plan: Plan, captions_by_k: dict, work: dict, found: int) -> PrepareResult:
    out, journal = Path(job.out), Journal(job.out)
    records, rejected = [], list(plan.rejected)
    for k, record in enumerate(plan.kept):
        result = written(job, record, k, captions_by_k[k])
        if result is None:
            raise RuntimeError(f"clip {record['source']} was not written: did a rank of this run fail?")
        if "record" in result:
            records.append(result["record"])
        else:
            rejected.append(result["rejected"])
    rejected.sort(key=lambda r: (r["source"], report.STAGES.index(r["stage"])))
    manifest, rejected_text = _lines(records), _lines(rejected)
    info = {"source": "prepared", "input": os.path.abspath(job.root), "count": len(records),
            "fps": job.config.fps, "num_frames": job.config.num_frames,
            "sample_rate_hz": job.config.sample_rate_hz, "size": job.config.size, "config": job.config.to_dict()}
    digest = json.dumps([manifest, rejected_text, info], sort_keys=True, default=list)
    state_path = journal.root / "state.json"
    outputs = [out / name for name in ("manifest.jsonl", "rejected.jsonl", "dataset.json", "summary.json",
                                       "summary.txt", "contact_sheet.png")]
    state = read_json(state_path)
    did_work = any(stage.get("done") for stage in work.values())
    rows = report.stage_rows(found, rejected, work)
    if state and state.get("digest") == digest and all(p.is_file() for p in outputs) and not did_work:
        message = (f"nothing to do: all {found} inputs were already prepared into {out} "
                   f"({len(records)} kept, {len(rejected)} rejected); delete {out / JOURNAL_DIR} to start over")
        return PrepareResult(len(records), rejected, rows, False, message)

    write.write_text(out / "manifest.jsonl", manifest)
    write.write_text(out / "rejected.jsonl", rejected_text)
    write.write_text(out / "dataset.json", json.dumps(info, indent=1, default=list) + "\n")
    strips = [(f"{r['id']} {Path(r['source']).name}", media.read_image(journal.path("thumbs", r["source"], ".png")))
              for r in records[: job.config.contact_sheet_max_clips]]
    media.write_image(out / "contact_sheet.png", report.contact_sheet(strips, job.config.contact_sheet_columns))
    removed = write.remove_orphans(out, records)
    table = report.format_table(rows)
    write.write_text(out / "summary.txt", table + "\n")
    write_json(out / "summary.json", {"stages": rows, "kept": len(records), "rejected": len(rejected),
                                      "orphans_removed": removed})
    write_json(state_path, {"digest": digest})
    message = f"kept {len(records)} of {found} files in {out}; rejected {len(rejected)} (see rejected.jsonl)"
    return PrepareResult(len(records), rejected, rows, True, message)


# ── the run ───────────────────────────────────────────────────────────────────────────────


def _check_folders(root: Path, out: Path) -> None:
    if not root.is_dir():
        raise ValueError(f"--input {root} is not a folder")
    root_abs, out_abs = root.resolve(), out.resolve()
    if out_abs == root_abs or root_abs in out_abs.parents:
        raise ValueError(f"--out {out} is inside --input {root}: inputs are never modified, choose another folder")
    if out.exists() and any(out.iterdir()) and not (out / JOURNAL_DIR).is_dir():
        raise ValueError(f"--out {out} exists and was not written by prepare; choose an empty or new folder")


def _analyse_shard(job: Job, mine: list[Source], workers: int, quiet: bool) -> dict:
    """Phase A for this rank's files; returns its work counts."""
    journal, started = Journal(job.out), time.perf_counter()
    pending = [s for s in mine if journal.load("analysis", s.path, analysis_stamp(job, s.path)) is None]
    with tqdm(total=len(mine), desc="keyframes", unit="file", disable=quiet) as bar:
        bar.update(len(mine) - len(pending))
        for _ in _parallel(analyse_file, [(job, s) for s in pending], workers, bar):
            pass
    done = len(pending)
    if job.config.clip_model:
        ok = [s.path for s in mine if "record" in journal.load("analysis", s.path, analysis_stamp(job, s.path))]
        with tqdm(total=len(ok), desc="clip model", unit="file", disable=quiet) as bar:
            done += score_with_clip(job, ok, bar)
    return {"done": done, "reused": len(mine) - len(pending), "seconds": time.perf_counter() - started}


def _write_shard(job: Job, plan: Plan, own: list[int], workers: int, quiet: bool) -> tuple[dict, dict]:
    """Phase C for this rank's kept clips; returns their captions and the work counts."""
    started = time.perf_counter()
    with tqdm(total=len(own), desc="captions", unit="clip", disable=quiet) as bar:
        own_captions, caption_work = caption_clips(job, plan, own, bar)
    work = {"captions": {**caption_work, "seconds": time.perf_counter() - started}}
    started = time.perf_counter()
    pending = [k for k in own if written(job, plan.kept[k], k, own_captions[k]) is None]
    with tqdm(total=len(own), desc="trim+write", unit="clip", disable=quiet) as bar:
        bar.update(len(own) - len(pending))
        tasks = [(job, plan.kept[k], k, *own_captions[k]) for k in pending]
        for _ in _parallel(write_clip, tasks, workers, bar):
            pass
    work["write"] = {"done": len(pending), "reused": len(own) - len(pending), "seconds": time.perf_counter() - started}
    return own_captions, work


def _gather(journal: Journal, ranks: int) -> tuple[dict, dict]:
    """Every rank's captions and work counts: counts add up, seconds are the slowest rank's."""
    work, all_captions = {}, {}
    for rank in range(ranks):
        shard = read_json(journal.root / "runs" / f"rank_{rank}.json")
        all_captions.update({int(k): tuple(v) for k, v in shard["captions"].items()})
        for stage, numbers in shard["work"].items():
            total = work.setdefault(stage, {})
            for key, value in numbers.items():
                total[key] = max(total.get(key, 0), value) if key == "seconds" else total.get(key, 0) + value
    return all_captions, work


def prepare(input_dir, out_dir, config: PrepareConfig | None = None, workers: int | None = None) -> PrepareResult:
    """Turns a folder of raw videos and images into a training set; see the module docstring."""
    from accelerate import PartialState

    config = config or PrepareConfig()
    config.validate()
    root, out = Path(input_dir), Path(out_dir)
    state = PartialState(cpu=True)  # cpu=True: CPU ranks join one gloo group and see each other
    rank, ranks, quiet = state.process_index, state.num_processes, not state.is_main_process
    if state.is_main_process:
        _check_folders(root, out)
    state.wait_for_everyone()
    (out / JOURNAL_DIR).mkdir(parents=True, exist_ok=True)
    workers = workers or max(1, (os.cpu_count() or 1) // ranks)
    job, journal = Job(str(root), str(out), config), Journal(out)

    started = time.perf_counter()
    sources, rejected = discover(root)
    work = {"discover": {"seconds": time.perf_counter() - started},
            "keyframes": _analyse_shard(job, sources[rank::ranks], workers, quiet)}
    state.wait_for_everyone()

    started = time.perf_counter()
    plan = decide(job, sources, list(rejected), quiet)
    work["dedup"] = {"seconds": time.perf_counter() - started}
    own_captions, write_work = _write_shard(job, plan, list(range(rank, len(plan.kept), ranks)), workers, quiet)
    write_json(journal.root / "runs" / f"rank_{rank}.json", {"work": {**work, **write_work}, "captions": own_captions})
    state.wait_for_everyone()
    if not state.is_main_process:
        return PrepareResult(0, [], [], True, f"rank {rank} finished its shard")
    all_captions, all_work = _gather(journal, ranks)
    return merge(job, plan, all_captions, all_work, len(sources) + len(rejected))
