"""The Edit tab's comparison board: every edit of one source, with its instruction, task,
seed, guidance and, when the source is a Shapes World clip, what the judge sees in it; and
the chain of edits that led to the source when an edit is edited again.

The board lives in the page's session state as plain dicts. A source is recognised by its
content, so a result sent back as the source (Gradio copies it) continues the chain.
"""

import numpy as np

from studio.evaluation.judge import MARKER, ClipReport, judge_clip
from studio.media import Clip
from studio.ui.service import Outcome, file_digest
from studio.world import spec

HEADERS = ["#", "instruction", "task", "seed", "guidance (text / video)", "audio", "judge sees"]
COLUMN_WIDTHS = ["5%", "22%", "9%", "12%", "10%", "7%", "35%"]
SOURCE = "source"
BACKGROUND_TOLERANCE = 30.0  # RGB distance from a world background that counts as background
MIN_BACKGROUND_FRACTION = 0.6  # two large objects cover at most a fifth of a frame
MIN_DETECTED_FRACTION = 0.8
MARKER_NOTE_FRACTION = 0.005  # marker pixels worth mentioning when no object is painted


def is_shapes_world(clip: Clip, report: ClipReport) -> bool:
    """A Shapes World render: mostly one palette background, one or two objects seen throughout."""
    pixels = clip.frames.reshape(-1, 3).astype(np.float32)
    background = max(float((np.linalg.norm(pixels - np.array(rgb, np.float32), axis=1) < BACKGROUND_TOLERANCE).mean())
                     for rgb in spec.BACKGROUNDS.values())
    return (background >= MIN_BACKGROUND_FRACTION and 1 <= len(report.objects) <= 2
            and all(o.detected_fraction >= MIN_DETECTED_FRACTION for o in report.objects))


def describe(report: ClipReport) -> str:
    """The judge's reading in the captions' words."""
    objects = [f"{o.size} {o.colour} {o.shape} " + ("still" if o.motion == "still" else f"moving {o.motion}")
               for o in report.objects]
    text = f"{report.background} background; " + ("; ".join(objects) or "no objects")
    if report.is_grayscale:
        text += "; grayscale"
    if report.marker_fraction >= MARKER_NOTE_FRACTION and not any(o.colour == MARKER for o in report.objects):
        text += f"; {report.marker_fraction:.0%} {MARKER} marker"
    return text


def edit_entries(outcome: Outcome) -> dict:
    """What one edit request adds to the board (judged only when the source is a world clip)."""
    result = outcome.result
    source = result.source
    judged = is_shapes_world(source, judge_clip(source))
    record = result.record
    entries = []
    for i, (path, seed) in enumerate(zip(outcome.videos, outcome.seeds)):
        clip = result.clip(i, source.fps, source.sample_rate_hz)
        entries.append({"instruction": record["instruction"], "task": result.task, "seed": seed,
                        "text_guidance": record["text_guidance"], "video_guidance": record["video_guidance"],
                        "audio": "kept" if record["keep_audio"] else "new",
                        "verdict": describe(judge_clip(clip)) if judged else "(not a Shapes World clip)",
                        "video": str(path), "key": file_digest(path)})
    return {"source_key": outcome.source_key, "source_video": str(outcome.source_video), "entries": entries}


def label(entry: dict) -> str:
    return f"#{entry['n']} · {entry['instruction']} · seed {entry['seed']}"


def add(board: dict | None, edit: dict) -> dict:
    """The board after `edit`: the same board if its source is this board's, else a new one
    whose chain records the entry it was made from (if it was one of this board's)."""
    if board and board["source_key"] == edit["source_key"]:
        board = {**board, "entries": list(board["entries"])}
    else:
        parent = next((e for e in (board or {}).get("entries", []) if e["key"] == edit["source_key"]), None)
        chain = board["chain"] + [label(parent)] if parent else []
        board = {"source_key": edit["source_key"], "chain": chain, "entries": []}
    board["source_video"] = edit["source_video"]
    for entry in edit["entries"]:
        board["entries"].append({**entry, "n": len(board["entries"]) + 1})
    return board


def rows(board: dict | None) -> list[list]:
    return [[e["n"], e["instruction"], e["task"], e["seed"], f"{e['text_guidance']:g} / {e['video_guidance']:g}",
             e["audio"], e["verdict"]] for e in (board or {}).get("entries", [])]


def choices(board: dict | None) -> list[tuple[str, str]]:
    """Dropdown choices: the source, then every entry."""
    if not board:
        return []
    return [("source", SOURCE)] + [(label(e), str(e["n"])) for e in board["entries"]]


def video_of(board: dict | None, choice: str | None) -> str | None:
    if not board or not choice:
        return None
    if choice == SOURCE:
        return board["source_video"]
    return next((e["video"] for e in board["entries"] if str(e["n"]) == choice), None)


def chain_text(board: dict | None) -> str:
    if not board or not board["chain"]:
        return ""
    return "**Edit chain:** original → " + " → ".join(board["chain"]) + " → (this source)"
