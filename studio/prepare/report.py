"""What a person reads after a run: the per-stage table and the contact sheet of kept clips."""

import numpy as np
from PIL import Image, ImageDraw

STAGES = ("discover", "keyframes", "dedup", "safety", "quality", "size", "captions", "trim", "write")
COLUMNS = ("stage", "in", "rejected", "out", "done", "reused", "seconds")
LABEL_HEIGHT_PX = 14
GAP_PX = 4


def stage_rows(found: int, rejected: list[dict], work: dict) -> list[dict]:
    """One row per stage: how many came in, were rejected there, went on; work done or reused.

    `work[stage]` holds "done", "reused" and "seconds" for the stages that do per-file work.
    """
    rows, remaining = [], found
    for stage in STAGES:
        count = sum(1 for r in rejected if r["stage"] == stage)
        stage_work = work.get(stage, {})
        rows.append({"stage": stage, "in": remaining, "rejected": count, "out": remaining - count,
                     "done": stage_work.get("done"), "reused": stage_work.get("reused"),
                     "seconds": round(stage_work["seconds"], 2) if "seconds" in stage_work else None})
        remaining -= count
    return rows


def format_table(rows: list[dict]) -> str:
    cells = [[("-" if row[c] is None else str(row[c])) for c in COLUMNS] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(COLUMNS, widths)))]
    for line in cells:
        lines.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(line, widths))))
    return "\n".join(lines)


def contact_sheet(strips: list[tuple[str, np.ndarray]], columns: int) -> np.ndarray:
    """Labelled strips (each (h, w, 3) uint8, all one size) in a grid: (H, W, 3) uint8."""
    if not strips:
        image = Image.new("RGB", (240, 40), (32, 32, 32))
        ImageDraw.Draw(image).text((8, 12), "no clips kept", fill=(230, 230, 230))
        return np.asarray(image)
    height, width = strips[0][1].shape[:2]
    columns = max(1, min(columns, len(strips)))
    rows = -(-len(strips) // columns)
    tile_w, tile_h = width + GAP_PX, height + LABEL_HEIGHT_PX + GAP_PX
    sheet = Image.new("RGB", (columns * tile_w + GAP_PX, rows * tile_h + GAP_PX), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    for index, (label, strip) in enumerate(strips):
        left = GAP_PX + (index % columns) * tile_w
        top = GAP_PX + (index // columns) * tile_h
        sheet.paste(Image.fromarray(strip), (left, top))
        draw.text((left, top + height + 1), label[: width // 6], fill=(230, 230, 230))
    return np.asarray(sheet)
