"""Generation object by object: a prompt that names its objects one by one ("a red circle
moving left and a blue square moving up on a navy background") is sampled as one stream per
object, all in one batch, and each stream's main object, decoded, is laid over one flat
background clear of the others (`composed`). Given a first frame, each stream starts from an
image of its own object alone (`split_image`; the pipeline matches objects to phrases). An edit
that names one object of several is made on that object alone (`split_objects`; the edit
pipeline picks the object and lays the others back), and an edit of colours alone recolours the
source's own objects or background (`recoloured`).

Why: the generator reads a caption as a bag of attributes. Asked for two objects, it gives one
the other's colour, shape or motion and draws copies; asked for one, it gets colour, shape and
motion right in 84 % of the evaluation's clips (README, Object by object); the edit transformer,
asked to recolour one of two objects, paints either or both. LLM-grounded Diffusion (Lian et al.
2023) composes per-object latents from boxes an LLM drew; here each stream places its own
object, and one that lands on another is moved clear of it. It assumes what a checkpoint trained
on the Shapes World has, flat backgrounds with objects on them, so checkpoints opt in
(`compose_objects` in their model_index.json).
"""

import re

import numpy as np
from scipy import ndimage

from models.task_detection import DRAWN_SIZE, named_size

ONE_THING = ("a", "an", "one", "the", "something")  # first words of a phrase naming a single object
MAX_OBJECTS = 4  # more streams than this would make a request too slow (each is a batch row)
IMAGE_FOREGROUND = 30.0  # RGB distance from the pixels' median colour beyond which a pixel is an object's
MIN_OBJECT_PX = 4  # smaller regions of a frame are specks, not objects
MIN_BACKGROUND_SHARE = 0.5  # of the pixels, at the background colour: else not objects on a flat background
CROSS = ndimage.generate_binary_structure(2, 1)[None]  # (1, 3, 3): a pixel and its four neighbours in its frame
# Touching objects are told apart by colour: pixels within this RGB distance of a colour share
# it (the world's palette colours lie at least 83 apart), measured this far inside a region.
COLOUR_RADIUS = 40.0
EDGE_PX = 2
PUREST_PERCENTILE = 90  # an added object's colour: its pixels this far up its distance from the background
OUTLINE_PX = 32  # outlines are compared at this extent (`outline_similarity`)
CLEARANCE_PX = 2  # a laid-out object is moved at least this far clear of the objects already there
PITCH_OCTAVES = 2  # a world object's tone rises this many octaves from the frame's bottom to its top
LOWEST_PITCH_HZ = 220.0  # a world object's tone at the frame's bottom
TONE_BAND_HZ = (150.0, 1100.0)  # holds a world tone's fundamental (220-880 Hz), its strongest partial
# A stream whose tone is heard within `HEARD_SEMITONES` of its object's height in fewer than
# `HEARD_SHARE` of the frames that show it has its sound drawn again, up to `SOUND_DRAWS` drawings in
# all, and the one nearest the height over its frames stands, a frame's miss counted up to
# `WORST_SEMITONES` (README: Tones drawn again).
HEARD_SHARE = 0.9
HEARD_SEMITONES = 1.0
WORST_SEMITONES = 3.0
SOUND_DRAWS = 4
SILENT_RMS = 0.005  # a stream's sound quieter than this (RMS, full scale 1) carries no tone to level
STILL_SHARE = 1 / 16  # of the frame side: a drawn object whose centre moves less over the clip stands still
# The world's object sizes (12 and 20 px of 64) as shares of the frame side. The generator draws
# small squares and triangles round, so a small object is drawn large and laid out at its size;
# and a drawing more than `SIZE_SLACK` times its size is mostly a blob or two copies run together
# (README: Small objects drawn large).
OBJECT_SIZES = {"small": 12 / 64, "large": 20 / 64}
DRAWN_INSTEAD = {"small": DRAWN_SIZE}
SIZE_SLACK = 1.3


def object_clauses(prompt: str) -> list[str]:
    """One prompt per object, each keeping the shared place ("on a navy background"), or []
    when the prompt is not a list of single objects (a phrase that does not start with "a",
    "an", "one", "the" or "something": "two circles", "a black and white cat"), so it is
    sampled whole."""
    head, on, place = prompt.rpartition(" on ")
    if not on:
        head, place = prompt, ""
    phrases = [p for p in re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+", head.strip(" .")) if p]
    if not 1 <= len(phrases) <= MAX_OBJECTS or any(p.split()[0].lower() not in ONE_THING for p in phrases):
        return []
    return [prompt] if len(phrases) == 1 else [f"{p}{on}{place}".strip(" .") for p in phrases]


def without_place(phrase: str) -> str:
    """A stream's phrase without the place `object_clauses` gave it ("a white circle moving up on
    a beige background" -> "a white circle moving up")."""
    return phrase.rpartition(" on ")[0] or phrase


def drawn_size(phrase: str) -> tuple[str, float | None]:
    """(the phrase a stream is drawn from, the extent its object is laid out at as a share of
    the frame side, or None: as drawn), by `DRAWN_INSTEAD` ("a small red square moving up" ->
    ("a large red square moving up", 0.1875))."""
    size = named_size(phrase)
    if size not in DRAWN_INSTEAD:
        return phrase, None
    return re.sub(rf"\b{size}\b", DRAWN_INSTEAD[size], phrase, flags=re.IGNORECASE), OBJECT_SIZES[size]


def colour_centres(pixels: np.ndarray, min_count: int) -> np.ndarray:
    """The colours (K, 3) that at least `min_count` of pixels (N, 3) share, most common first:
    the densest cell of a coarse colour grid, refined to the mean of the pixels within
    `COLOUR_RADIUS` of it, which it then takes; then again on the rest."""
    rest, centres = pixels.astype(np.float32), []
    while len(rest) >= min_count and len(centres) < MAX_OBJECTS:
        cells = (rest // 32).astype(np.int64) @ np.array([64, 8, 1])
        near = np.linalg.norm(rest - rest[cells == np.bincount(cells).argmax()].mean(0), axis=1) < COLOUR_RADIUS
        if near.sum() < min_count:
            break
        centres.append(rest[near].mean(0))
        rest = rest[~near]
    return np.array(centres).reshape(-1, 3)


def colour_steps(frames: np.ndarray) -> np.ndarray:
    """(T, H, W) each pixel's largest RGB distance to a pixel beside it in its frame."""
    f = frames.astype(np.float32)
    steps = np.zeros(f.shape[:3], np.float32)
    down, right = np.linalg.norm(np.diff(f, axis=1), axis=-1), np.linalg.norm(np.diff(f, axis=2), axis=-1)
    for view, step in ((steps[:, 1:], down), (steps[:, :-1], down), (steps[:, :, 1:], right),
                       (steps[:, :, :-1], right)):
        np.maximum(view, step, out=view)
    return steps


def interior(mask: np.ndarray) -> np.ndarray:
    """The pixels of mask (T, H, W) `EDGE_PX` in from its edge in each frame: past the blend of
    an object's anti-aliased or blurred edge with what lies around it."""
    return ndimage.binary_erosion(mask, CROSS, iterations=EDGE_PX)


def split_by_colour(frames: np.ndarray, region: np.ndarray, min_count: int) -> list[np.ndarray]:
    """The parts (masks (T, H, W)) of a region of frames (T, H, W, 3) that hold objects of
    different colours touching: each pixel goes with the colour of the nearest pixel of the
    region's interior (`EDGE_PX` in from its edge, past the blend of anti-aliasing and blur,
    and not beside a step of colour, as where two objects meet), and each colour's pixels
    connected over space and time are a part. A region of one colour is one part."""
    inside = interior(region) & (colour_steps(frames) < COLOUR_RADIUS)  # not where two objects meet
    centres = colour_centres(frames[inside], min_count)
    if len(centres) < 2:
        return [region]
    colour = np.zeros(region.shape, np.int64)  # (T, H, W): 1 + the nearest centre in the interior
    colour[inside] = 1 + np.linalg.norm(frames[inside][:, None] - centres, axis=-1).argmin(1)
    for t in np.flatnonzero(inside.any((1, 2))):
        nearest = ndimage.distance_transform_edt(~inside[t], return_distances=False, return_indices=True)
        colour[t] = np.where(region[t], colour[t][nearest[0], nearest[1]], 0)
    parts = []
    for c in range(1, len(centres) + 1):
        labels, found = ndimage.label(colour == c, structure=np.ones((3, 3, 3)))
        parts += [labels == label for label in 1 + np.flatnonzero(
            ndimage.sum(labels > 0, labels, index=np.arange(1, found + 1)) >= min_count)]
    return parts


def background_colour(frames: np.ndarray) -> np.ndarray:
    """(3,) the median colour of frames (..., 3): on a flat background with objects on it, the
    background's."""
    return np.median(frames.reshape(-1, 3), 0)


def split_objects(frames: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each object of frames (T, H, W, 3) uint8 as (the frames with every other object painted
    over with the background, the median colour; mask (T, H, W) of the object's pixels grown
    by one): the regions further than `IMAGE_FOREGROUND` from the background, connected over
    space and time, of at least `MIN_OBJECT_PX` pixels a frame on average, and where such a
    region holds objects of different colours that touch, each of them (`split_by_colour`).
    Objects of one colour that touch in some frame come out as one; frames that are not
    mostly one flat colour (`MIN_BACKGROUND_SHARE`), as footage is, show none."""
    back = background_colour(frames)
    foreground = np.linalg.norm(frames - back, axis=-1) > IMAGE_FOREGROUND  # (T, H, W)
    if foreground.mean() > 1 - MIN_BACKGROUND_SHARE:
        return []
    labels, found = ndimage.label(foreground, structure=np.ones((3, 3, 3)))
    sizes = ndimage.sum(labels > 0, labels, index=np.arange(1, found + 1))
    min_count = MIN_OBJECT_PX * len(frames)
    masks = [part for label in 1 + np.flatnonzero(sizes >= min_count)
             for part in split_by_colour(frames, labels == label, min_count)]
    objects = []
    for mask in masks:  # each grown by one pixel in its frames
        others = ndimage.binary_dilation(foreground & ~mask, CROSS) & ~mask
        alone = frames.copy()
        alone[others] = back.round().astype(np.uint8)
        objects.append((alone, ndimage.binary_dilation(mask, CROSS)))
    return objects


def coverage(pixels: np.ndarray, back: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """(N,) the share of each pixel (N, 3) an object of `colour` covers over background
    `back`: how far the pixel lies from the background towards the colour, in [0, 1] (an
    anti-aliased or blurred edge is a blend of the two)."""
    towards = colour - back
    return np.clip((pixels - back) @ towards / max(towards @ towards, 1.0), 0, 1)


def recoloured(source: np.ndarray, edited: np.ndarray, masks: list[np.ndarray], layers: frozenset[str],
               min_change: float = COLOUR_RADIUS) -> np.ndarray:
    """The source frames (T, H, W, 3) uint8 with the colours the edited frames changed, on the
    source's own outlines. In `layers` "objects": each object (masks (T, H, W) from
    `split_objects`) whose interior's median the edit moved more than `min_change` takes the
    new colour; "background": the background does, where the pixels no object touches moved as
    far. A pixel moves by each change in the share of it that layer covers: an object's share
    read from how far the source pixel lies from the background towards the object's colour.
    For the edits that change colours and nothing else (recolor, segment, background, style):
    the edit says what changes to what colour, the source keeps everything else exact, where the
    decoder would blur a small object's edge and may draw a stray copy."""
    back = background_colour(source)
    out = source.astype(np.float32)
    cover = np.zeros(source.shape[:3], np.float32)  # (T, H, W): the share of each pixel an object covers
    for mask in masks:
        inside = interior(mask)
        if not inside.any():
            continue
        old, new = np.median(source[inside], 0), np.median(edited[inside], 0)
        share = coverage(source[mask], back, old)
        cover[mask] = np.maximum(cover[mask], share)
        if "objects" in layers and np.linalg.norm(new - old) > min_change:
            out[mask] += share[:, None] * (new - old)
    if "background" in layers:
        bare = ~np.any([np.zeros(cover.shape, bool), *masks], axis=0)  # the pixels no object touches
        new_back = np.median(edited[bare], 0)
        if np.linalg.norm(new_back - back) > min_change:
            out += (1 - cover)[..., None] * (new_back - back)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def removed(source: np.ndarray, edited: np.ndarray, masks: list[np.ndarray], named: int) -> np.ndarray:
    """A remove edit's frames (T, H, W, 3) uint8 from the edited frames of a source showing the
    objects of masks (T, H, W) (from `split_objects`), `named` the one the instruction names
    (as picked). Where the edit shows exactly one object gone (the median of its interior within
    `COLOUR_RADIUS` of the background colour), that is the one removed and the others are laid
    back from the source; where it shows several gone, the named one is; where it shows none
    gone, the source with the named object `erased`: trained on scenes of two objects, the edit
    transformer sometimes removed nothing, or an object alone turned white."""
    back = background_colour(source)
    gone = [bool(inside.any()) and np.linalg.norm(np.median(edited[inside], 0) - back) < COLOUR_RADIUS
            for inside in map(interior, masks)]
    if not any(gone):
        return erased(source, *object_share(source, masks[named]))
    kept = [i for i, g in enumerate(gone) if not g] if sum(gone) == 1 else [i for i in range(len(masks)) if i != named]
    others = np.any([masks[i] for i in kept], axis=0)
    return np.where(others[..., None], source, edited)


def erased(source: np.ndarray, share: np.ndarray, colour: np.ndarray, back: np.ndarray) -> np.ndarray:
    """The source frames (T, H, W, 3) uint8 with an object (its `object_share`: share (T, H, W),
    colour, background colour) painted over with the background, each pixel by its share."""
    return np.clip(np.round(source - share[..., None] * (colour - back)), 0, 255).astype(np.uint8)


def painted(source: np.ndarray, mask: np.ndarray, made: np.ndarray) -> np.ndarray | None:
    """The source frames (T, H, W, 3) uint8 with the object of mask (T, H, W) in the colour of
    the main object of `made` (`drawn_object`, its purest pixels), or None if `made` shows
    none: each pixel moves by the share of it the object covers, so the object keeps its own
    outline and edge. Recolor changes the colour and nothing else."""
    drawn = drawn_object(made)
    if drawn is None:
        return None
    colour = object_share(made, drawn)[1]
    share, old, _ = object_share(source, mask)
    return np.clip(np.round(source + share[..., None] * (colour - old)), 0, 255).astype(np.uint8)


def clear_offset(mask: np.ndarray, occupied: np.ndarray) -> tuple[int, int]:
    """The shortest shift (dy, dx) in pixels that keeps mask (T, H, W) inside the frame and
    off `occupied` (T, H, W) in every frame, sideways (dy = 0) where one does: an object's
    height sets its tone's pitch, which its sound was drawn for; (0, 0) where none does or
    nothing is occupied. Every shift's overlap at once, as the frames' cross-correlation
    (zero-padded FFTs)."""
    h, w = mask.shape[1:]
    rows, cols = np.flatnonzero(mask.any((0, 2))), np.flatnonzero(mask.any((0, 1)))
    if not len(rows) or not occupied.any():
        return 0, 0
    spectra = [np.fft.rfft2(a.astype(np.float32), s=(2 * h, 2 * w)) for a in (mask, occupied)]
    overlap = np.fft.irfft2((np.conj(spectra[0]) * spectra[1]).sum(0), s=(2 * h, 2 * w))  # [dy, dx], wrapped
    dy, dx = np.meshgrid(np.fft.fftfreq(2 * h, 1 / (2 * h)), np.fft.fftfreq(2 * w, 1 / (2 * w)), indexing="ij")
    free = ((overlap < 0.5) & (dy >= -rows[0]) & (dy < h - rows[-1]) & (dx >= -cols[0]) & (dx < w - cols[-1]))
    if not free.any():
        return 0, 0
    if (free & (dy == 0)).any():
        free &= dy == 0
    best = np.unravel_index(np.argmin(np.where(free, dy ** 2 + dx ** 2, np.inf)), free.shape)
    return int(dy[best]), int(dx[best])


def shifted(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Frames a (T, H, W, ...) moved down dy and right dx pixels, zeros where nothing moved in."""
    out = np.zeros_like(a)
    h, w = a.shape[1:3]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = a[:, max(-dy, 0):h - max(dy, 0),
                                                                     max(-dx, 0):w - max(dx, 0)]
    return out


def object_share(frames: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(share (T, H, W) of each pixel the object of mask (T, H, W) covers, its colour, the
    background colour) in frames (T, H, W, 3). Its colour is the mean of its purest pixels
    (`PUREST_PERCENTILE`): a small object's middle comes out of the decoder dimmed."""
    back = background_colour(frames)
    distance = np.linalg.norm(frames[mask].astype(np.float32) - back, axis=-1)
    colour = frames[mask][distance >= np.percentile(distance, PUREST_PERCENTILE)].mean(0)
    share = np.zeros(mask.shape, np.float32)
    share[mask] = coverage(frames[mask], back, colour)
    return share, colour, back


def drawn_object(made: np.ndarray) -> np.ndarray | None:
    """Mask (T, H, W) of the main object of `made` (a clip generated for one object): of its
    objects (`split_objects`), the one furthest from the background over its pixels, so not a
    stray copy or speck; None if it shows none."""
    objects = split_objects(made)
    if not objects:
        return None
    distance = np.linalg.norm(made.astype(np.float32) - background_colour(made), axis=-1)  # (T, H, W)
    return max((mask for _, mask in objects), key=lambda m: distance[m].sum())


def shown_frames(share: np.ndarray) -> list[int]:
    """The frames in which an object (share (T, H, W)) shows: `MIN_OBJECT_PX` or more of it."""
    return [t for t in range(len(share)) if share[t].sum() >= MIN_OBJECT_PX]


def moves_as(made: np.ndarray, direction: tuple[int, int]) -> bool:
    """Whether the main object of `made` (frames (T, H, W, 3)) moves as `direction` (rows,
    columns, in sign alone; (0, 0): still) says, from its centre in the first frame that shows
    it to the last: still, less than `STILL_SHARE` of the frame side; else at least that far
    along the direction and twice as far as across it. False where it shows none."""
    mask = drawn_object(made)
    if mask is None:
        return False
    share = object_share(made, mask)[0]
    shown = shown_frames(share)
    if len(shown) < 2:
        return False
    moved = np.subtract(ndimage.center_of_mass(share[shown[-1]]), ndimage.center_of_mass(share[shown[0]]))
    least = STILL_SHARE * made.shape[1]
    if direction == (0, 0):
        return bool(np.hypot(*moved) < least)
    along, across = moved @ direction, moved @ direction[::-1]
    return bool(along >= least and along >= 2 * abs(across))


def resized(share: np.ndarray, extent_share: float) -> np.ndarray:
    """An object's share maps (T, H, W) with the object in each frame scaled about its centre to
    an `extent` of `extent_share` of the frame side (by its median over the frames); the world's
    objects keep their path whatever their size. One too faint to have an extent is left as it is."""
    across = median_extent(share)
    if not across:
        return share
    out = np.zeros_like(share)
    scale = extent_share * share.shape[2] / across
    for t in shown_frames(share):
        centre = np.array(ndimage.center_of_mass(share[t]))
        out[t] = ndimage.affine_transform(share[t], np.full(2, 1 / scale), offset=centre - centre / scale, order=1)
    return out


def sized_as(made: np.ndarray, size: str) -> bool:
    """Whether the main object of `made` (frames (T, H, W, 3)) is drawn at most `SIZE_SLACK`
    times the world's `size` ("small", "large") across, by its median `extent` over the frames
    that show it. False where it shows none."""
    mask = drawn_object(made)
    across = 0 if mask is None else median_extent(object_share(made, mask)[0])
    return 0 < across <= SIZE_SLACK * OBJECT_SIZES[size] * made.shape[2]


def laid_over(source: np.ndarray, made: np.ndarray, clear: bool = True, extent_share: float | None = None
              ) -> tuple[np.ndarray, int] | None:
    """(the source frames (T, H, W, 3) uint8 with the main object of `made` laid over them, the
    rows it was moved down), or None if `made` shows none (`drawn_object`). With `extent_share`,
    the object is first scaled to that size (`resized`). With `clear`, it is moved the shortest
    way clear of the source's objects by `CLEARANCE_PX` (the world never lets objects overlap;
    where one is placed is free unless an image placed it), and each pixel takes its colour by the
    share of it the object covers, so its edge blends into the source's background."""
    mask = drawn_object(made)
    if mask is None:
        return None
    share, colour, _ = object_share(made, mask)
    if extent_share is not None:
        share = resized(share, extent_share)
        mask = share > 0
    down = right = 0
    if clear:
        occupied = np.linalg.norm(source - background_colour(source), axis=-1) > IMAGE_FOREGROUND
        down, right = clear_offset(mask, ndimage.binary_dilation(occupied, CROSS, iterations=CLEARANCE_PX))
        share = shifted(share, down, right)
    out = source * (1 - share[..., None]) + share[..., None] * colour
    return np.clip(np.round(out), 0, 255).astype(np.uint8), down


def pitch_ratio(rows_down: int, height: int) -> float:
    """How many times higher an object's tone sounds moved `rows_down` pixels down a frame
    `height` pixels tall: in the world its pitch rises `PITCH_OCTAVES` from bottom to top."""
    return 2.0 ** (-PITCH_OCTAVES * rows_down / height)


def tone_errors(waveform: np.ndarray, frames: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """(frames showing their main object,) semitones, at most `WORST_SEMITONES` (that where
    silent), between the strongest partial in `TONE_BAND_HZ` of each such frame's stretch of
    `waveform` (samples,) and the pitch the world gives the object's height in `frames` (T, H, W,
    3), taken at the middle of its box (a triangle's centre of mass sits low); empty where no
    frame shows one."""
    mask = drawn_object(frames)
    share = np.zeros(frames.shape[:3]) if mask is None else object_share(frames, mask)[0]
    hop, height = len(waveform) // len(frames), frames.shape[1]
    freqs = np.fft.rfftfreq(4 * hop, 1 / sample_rate_hz)
    band = (freqs > TONE_BAND_HZ[0]) & (freqs < TONE_BAND_HZ[1])
    errors = []
    for t in shown_frames(share):
        rows = np.flatnonzero((share[t] > 0.5).any(1))
        if len(rows):
            pitch = LOWEST_PITCH_HZ * 2.0 ** (PITCH_OCTAVES * (1 - (rows[0] + rows[-1] + 1) / 2 / height))
            spectrum = np.abs(np.fft.rfft(waveform[t * hop:(t + 1) * hop] * np.hanning(hop), 4 * hop))[band]
            off = abs(12 * np.log2(freqs[band][spectrum.argmax()] / pitch)) if spectrum.max() > 1e-3 else np.inf
            errors.append(min(off, WORST_SEMITONES))
    return np.array(errors)


def heard_share(errors: np.ndarray) -> float:
    """The share of a stream's frames (`tone_errors`) in which its tone is heard at its object's
    height; 1 where no frame shows the object."""
    return float(np.mean(errors <= HEARD_SEMITONES)) if len(errors) else 1.0


def tone_error(errors: np.ndarray) -> float:
    """How far a stream's tone lies from its object's height over its frames (`tone_errors`),
    in semitones: of two drawings of its sound, the nearer stands. A share of frames within a
    semitone cannot tell a tone 0.2 semitones off from one 0.9 off, and the evaluation's judge
    reads the height at full size, often a few tenths of a semitone from where this reads it."""
    return float(np.mean(errors)) if len(errors) else 0.0


def extent(share: np.ndarray) -> int:
    """The longer side in pixels of the box around the pixels (H, W) an object mostly covers."""
    rows, cols = np.nonzero(share > 0.5)
    return int(max(np.ptp(rows), np.ptp(cols)) + 1) if len(rows) else 0


def median_extent(share: np.ndarray) -> float:
    """An object's `extent` (share maps (T, H, W)), its median over the frames that show it; 0 where none do."""
    shown = shown_frames(share)
    return float(np.median([extent(share[t]) for t in shown])) if shown else 0.0


def outline(share: np.ndarray) -> np.ndarray:
    """An object's outline (H, W), peak 1: its share maps (T, H, W) averaged over the frames
    that show it, each moved so its centre is the frame's; the world's objects move without
    turning or growing, so the frames agree and averaging evens out each one's noise."""
    middle = (np.array(share.shape[1:]) - 1) / 2
    frames = [ndimage.shift(share[t], middle - ndimage.center_of_mass(share[t]), order=1) for t in shown_frames(share)]
    mean = np.mean(frames, 0) if frames else np.zeros(share.shape[1:], np.float32)
    return np.clip(mean / max(mean.max(), 1e-6), 0, 1)


def shape_of(frames: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | None:
    """The `outline` (H, W) of the object of mask (T, H, W) in frames (T, H, W, 3), or without a
    mask of their main object (`drawn_object`); None where they show none."""
    mask = drawn_object(frames) if mask is None else mask
    return None if mask is None else outline(object_share(frames, mask)[0])


def outline_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """How alike two outlines (H, W) are in shape alone, in [0, 1]: their soft intersection over
    union, each centred and scaled to an extent of `OUTLINE_PX` (a disc against the square
    around it: about 0.7; a square against a triangle: about 0.5)."""
    def normalised(shape):
        scale = OUTLINE_PX / max(extent(shape), 1)
        offset = np.array(ndimage.center_of_mass(shape)) - OUTLINE_PX / scale
        return ndimage.affine_transform(shape, np.full(2, 1 / scale), offset=offset,
                                        output_shape=(2 * OUTLINE_PX, 2 * OUTLINE_PX), order=1)

    a, b = normalised(a), normalised(b)
    return float(np.minimum(a, b).sum() / max(np.maximum(a, b).sum(), 1e-6))


def reshaped(source: np.ndarray, mask: np.ndarray, made: np.ndarray) -> np.ndarray | None:
    """The source frames (T, H, W, 3) uint8 with the object of mask (T, H, W) in the shape of
    the main object of `made` (`drawn_object`), or None if `made` shows none: the object is
    erased to the background, and the drawn object's `outline`, scaled to the object's extent,
    is drawn at the object's centre in each frame in the object's colour. Reshape changes the
    shape and nothing else: the source keeps the size, colour and path."""
    shape = shape_of(made)
    if shape is None:
        return None
    share, colour, back = object_share(source, mask)
    shown = shown_frames(share)
    if not shown or not extent(shape):
        return None
    scale = median_extent(share) / extent(shape)
    middle = ndimage.center_of_mass(shape)
    out = erased(source, share, colour, back).astype(np.float32)
    for t in shown:
        centre = np.array(ndimage.center_of_mass(share[t]))
        new = ndimage.affine_transform(shape, np.full(2, 1 / scale), offset=middle - centre / scale,
                                       output_shape=share.shape[1:], order=1)[..., None]
        out[t] = out[t] * (1 - new) + new * colour
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def split_image(image: np.ndarray, count: int) -> list[np.ndarray] | None:
    """The first frame (H, W, 3) uint8 as `count` images of one object each (`split_objects`),
    or None unless it shows exactly `count` objects."""
    objects = split_objects(image[None])
    return [alone[0] for alone, _ in objects] if len(objects) == count else None


def composed(streams: np.ndarray, clear: bool, background: np.ndarray | None = None,
             extents: list[float | None] | None = None) -> tuple[np.ndarray, list[int]]:
    """(one clip (T, H, W, 3) uint8, the rows each stream's object was moved down) from the
    frames of each object's stream (k, T, H, W, 3): each stream's main object laid in turn over
    a flat background, `background` (3,) or else the first stream's median colour (`laid_over`,
    with `clear` moved clear of those before it, at its stream's size of `extents` where one is
    given), so a copy or speck a stream drew is left out; a stream that shows no object adds none."""
    colour = background_colour(streams[0]) if background is None else background
    clip = np.broadcast_to(np.round(colour).astype(np.uint8), streams[0].shape).copy()
    rows_down = []
    for frames, extent_share in zip(streams, extents or [None] * len(streams)):
        clip, down = laid_over(clip, frames, clear, extent_share) or (clip, 0)
        rows_down.append(down)
    return clip, rows_down


def levelled(waveforms: np.ndarray, num_objects: int) -> np.ndarray:
    """Each candidate's streams' sounds (k * N, samples) at one loudness, the mean RMS of those
    that sound (above `SILENT_RMS`; a silent one is left), then scaled together so their sum
    stays within [-1, 1]. Drawn apart, the streams come out at levels the generator does not keep
    (RMS 0.01 to 0.6 on the development split's two-object prompts; the world's tones stand within
    a factor three), and a tone ten times quieter than another is lost under it (README: Sound
    drawn to the picture)."""
    streams = waveforms.reshape(num_objects, -1, waveforms.shape[-1])  # (k, N, samples)
    rms = np.sqrt(np.mean(streams.astype(np.float64) ** 2, axis=-1, keepdims=True))  # (k, N, 1)
    sounding = rms > SILENT_RMS
    level = (rms * sounding).sum(0) / np.maximum(sounding.sum(0), 1)  # (N, 1)
    streams = streams * np.where(sounding, level / np.maximum(rms, SILENT_RMS), 1.0)
    peak = np.abs(streams.sum(0)).max(-1, keepdims=True)  # (N, 1)
    return (streams / np.maximum(peak, 1.0)).reshape(waveforms.shape).astype(waveforms.dtype)


def mix(waveforms: np.ndarray, num_objects: int) -> np.ndarray:
    """Each candidate's streams' sounds (k * N, samples) summed and clipped to [-1, 1], as the
    world sounds its objects' tones together."""
    return np.clip(waveforms.reshape(num_objects, -1, waveforms.shape[-1]).sum(0), -1, 1)
