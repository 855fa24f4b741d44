"""Stage 3: semantic deduplication — one copy of each piece of footage survives.

Two clips are the same footage when their bytes are identical, when enough of their key
frames match (a DCT perceptual hash within `hash_max_distance` bits *and* a coarse colour
layout within `colour_max_difference`), or, with a CLIP-like model, when their mean key-frame
embeddings are close. The hash ignores re-encoding, resizing and small colour shifts; the colour
grid keeps apart two flat scenes whose shapes sit in the same place but differ in colour,
which the luma-only hash cannot see. Matching any key frame against any other (not only
first to first) is what finds trimmed copies.

Matches are joined transitively into groups, and each group keeps its best copy: one that
passes the per-file filters, then the highest resolution, then the sharpest (within a tie
ratio), then the highest bitrate, then the first path.
"""

import math

import numpy as np
from PIL import Image
from scipy.fft import dctn

from studio.prepare.config import PrepareConfig

HASH_SIDE = 8  # 64-bit hash from the 8x8 lowest frequencies
DCT_SIDE = 32
COLOUR_GRID = 4
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def contrast_channel(frame: np.ndarray) -> np.ndarray:
    """The frame projected on its colours' principal axis: (H, W) float.

    Luma for most footage, but a yellow shape on beige (nearly equal luma) still shows. The
    axis is signed to agree with luma so a slight recolour does not invert the hash.
    """
    pixels = frame.reshape(-1, 3).astype(np.float64)
    pixels -= pixels.mean(0)
    _, _, axes = np.linalg.svd(pixels[:: max(1, len(pixels) // 4096)], full_matrices=False)
    axis = axes[0] if axes[0] @ LUMA_WEIGHTS >= 0 else -axes[0]
    return (pixels @ axis).reshape(frame.shape[:2]).astype(np.float32)


def phash(frame: np.ndarray) -> int:
    gray = Image.fromarray(contrast_channel(frame)).resize((DCT_SIDE, DCT_SIDE), Image.Resampling.BOX)
    low = dctn(np.asarray(gray, np.float64), norm="ortho")[:HASH_SIDE, :HASH_SIDE].ravel()  # (64,)
    bits = low > np.median(low)
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def colour_grid(frame: np.ndarray) -> list[int]:
    small = Image.fromarray(frame).resize((COLOUR_GRID, COLOUR_GRID), Image.Resampling.BOX)
    return np.asarray(small).astype(int).ravel().tolist()  # (GRID * GRID * 3,)


def signature(frames: list[np.ndarray]) -> dict:
    return {"phash": [f"{phash(frame):016x}" for frame in frames], "colour": [colour_grid(f) for f in frames]}


# ── matching ──────────────────────────────────────────────────────────────────────────────


class _Groups:
    """Union-find over clip indices."""

    def __init__(self, count: int):
        self.parent = list(range(count))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        self.parent[max(self.find(i), self.find(j))] = min(self.find(i), self.find(j))


def _arrays(records: list[dict]):
    hashes = np.array([[int(h, 16) for h in r["phash"]] for r in records], np.uint64)  # (N, 3)
    colours = np.array([r["colour"] for r in records], np.float32)  # (N, 3, GRID*GRID*3)
    colours = colours.reshape(len(records), 3, COLOUR_GRID * COLOUR_GRID, 3)  # (N, 3, cells, RGB)
    return hashes, colours


def _frame_matches(i: int, hashes, colours, config: PrepareConfig) -> np.ndarray:
    """Number of key frames clip i shares with each later clip: (N - i - 1,), the larger of
    both directions. Colours are compared only where the hashes already match."""
    distance = np.bitwise_count(hashes[i][:, None, None] ^ hashes[i + 1:][None])  # (3, N - i - 1, 3)
    mine, other, theirs = np.nonzero(distance <= config.hash_max_distance)
    gap = np.abs(colours[i][mine] - colours[i + 1 + other, theirs]).mean(-1).max(-1)  # (matches,)
    match = np.zeros(distance.shape, bool)
    close = gap <= config.colour_max_difference
    match[mine[close], other[close], theirs[close]] = True
    return np.maximum(match.any(2).sum(0), match.any(0).sum(1))


def duplicate_pairs(records: list[dict], config: PrepareConfig, embeddings: np.ndarray | None = None):
    """Yields (i, j, evidence) for every pair i < j judged the same footage.

    One vectorised row per clip (3,000 clips in about a second), not a Python loop over pairs.
    """
    hashes, colours = _arrays(records)
    contents = np.array([r["content_hash"] for r in records])
    if embeddings is not None:
        embeddings = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)  # (N, D)
    for i in range(len(records)):
        later = slice(i + 1, None)
        identical = contents[later] == contents[i]  # (N - i - 1,)
        frames = _frame_matches(i, hashes, colours, config)
        close = embeddings[later] @ embeddings[i] if embeddings is not None else np.zeros(len(identical))
        candidates = identical | (frames >= config.min_matching_keyframes) | (close >= config.embedding_min_cosine)
        for offset in np.flatnonzero(candidates):
            if identical[offset]:
                evidence = "same size, first and last MiB"
            elif frames[offset] >= config.min_matching_keyframes:
                evidence = f"{frames[offset]} of 3 key frames match"
            else:
                evidence = f"CLIP cosine {close[offset]:.3f}"
            yield i, i + 1 + int(offset), evidence


# ── keeping the best copy ─────────────────────────────────────────────────────────────────


def _rank(record: dict, passes: bool, config: PrepareConfig) -> tuple:
    """Sort key, best first."""
    sharpness = record["sharpness"] or 0.0
    sharp_bin = math.floor(math.log(sharpness) / math.log(config.sharpness_tie_ratio)) if sharpness > 0 else -10**9
    return (not passes, -record["width"] * record["height"], -sharp_bin, -record["bitrate_bps"], record["source"])


def _why(kept: dict, other: dict, other_passes: bool) -> str:
    if not other_passes:
        return "the other copy fails the safety, quality or size filter"
    if kept["width"] * kept["height"] != other["width"] * other["height"]:
        return f"higher resolution ({kept['width']}x{kept['height']} vs {other['width']}x{other['height']})"
    if kept["sharpness"] != other["sharpness"]:
        return f"sharper or at a higher bitrate ({kept['sharpness'] or 0:.3f} vs {other['sharpness'] or 0:.3f})"
    return "higher bitrate or earlier path"


def deduplicate(records: list[dict], config: PrepareConfig, passes: list[bool],
                embeddings: np.ndarray | None = None) -> tuple[list[int], dict[int, str], dict[int, list[int]]]:
    """(kept indices, reason per removed index, group members per kept index incl. itself).

    `passes[i]` says whether clip i survives the per-file filters, so a blurred or dark copy is
    never the one kept when a good copy exists.
    """
    groups = _Groups(len(records))
    evidence = {}
    for i, j, how in duplicate_pairs(records, config, embeddings):
        groups.join(i, j)
        evidence[(i, j)] = how
    members = {}
    for i in range(len(records)):
        members.setdefault(groups.find(i), []).append(i)
    kept, reasons, group_of = [], {}, {}
    for group in members.values():
        best, *others = sorted(group, key=lambda k: _rank(records[k], passes[k], config))
        kept.append(best)
        group_of[best] = sorted(group)
        for other in others:
            how = evidence.get((min(best, other), max(best, other)), "a chain of near-duplicates")
            reasons[other] = (f"duplicate of {records[best]['source']} ({how}); kept that copy: "
                              f"{_why(records[best], records[other], passes[other])}")
    return sorted(kept), reasons, group_of
