"""The judge: what a Shapes World clip shows and sings, read from its pixels and samples.

Evaluation needs to score clips the models generate, which are never exact renders
(colours drift, edges blur, noise creeps in), so every decision here is a nearest-
prototype choice over robust statistics (medians over frames, soft edge coverage, filters
matched to each harmonic) rather than an exact match. Only the constants and geometry of
the spec (`studio.world.spec`) are used; no scene ground truth ever enters.
"""

from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize

from studio.media import Clip
from studio.world import spec

MARKER = "magenta"  # colour reported for an object painted by the `segment` edit


@dataclass
class ObjectReport:
    shape: str  # circle / square / triangle
    colour: str  # an object-palette name, or MARKER (in a grayscale clip: the entry nearest its gray)
    size: str  # small / large
    motion: str  # left / right / up / down / still
    centres_px: np.ndarray  # (T, 2) bounding-box centre x, y per frame; NaN where not found
    bbox_size_px: float  # median larger side of the bounding box
    detected_fraction: float  # frames in which the object was found: a confidence


@dataclass
class ClipReport:
    background: str
    objects: list[ObjectReport]  # left to right by first-seen x
    pitch_hz: np.ndarray  # (T, 2) tone tracks, one per column; NaN where that tone is silent
    timbre: list[str]  # majority waveform of each tone track that sounds: sine / square / triangle
    tone_waveforms: np.ndarray  # (T, 2) str, the waveform of each track per frame; '' where silent
    is_grayscale: bool
    marker_fraction: float  # fraction of pixels near marker magenta (the `segment` edit)
    frame_size_px: int


@dataclass
class AudioAgreement:
    pitch_ok: np.ndarray  # (T,) bool: every object's tone and no other within the tolerance
    timbre_ok: bool  # each object's tone is heard and has its shape's waveform

    @property
    def pitch_fraction(self) -> float:
        return float(self.pitch_ok.mean()) if len(self.pitch_ok) else 1.0


# ---------------------------------------------------------------- pixels: one frame

# Pixels are compared in a luma-chroma space with chroma at half weight: video codecs keep
# luma at full resolution but average chroma over 2x2 blocks, which grows a coloured halo
# around small objects. Chroma keeps enough weight to see a green object on gray (same luma).
CHROMA_WEIGHT = 0.5
_LUMA = np.array([0.299, 0.587, 0.114])
TO_SPACE = np.array([_LUMA, CHROMA_WEIGHT * 0.564 * (np.eye(3)[2] - _LUMA),
                     CHROMA_WEIGHT * 0.713 * (np.eye(3)[0] - _LUMA)])  # rows: Y, Cb, Cr of BT.601
# Edge coverage leans further on the sharp luma; chroma still carries objects of the
# background's own luma.
COVER_WEIGHT = np.array([1.0, 0.3, 0.3])
FOREGROUND_DISTANCE = 25.0  # distance from the background that counts as an object (noise std 8 gives ~6)
GRAY_CHROMA = 20.0  # max - min channel below which a region's colour is a gray
MARKER_DISTANCE = 60.0
MIN_FADE = 0.6  # the least share of its own colour (the rest background) an object's interior may show
# Area over side squared (a disk fills pi/4 of its box, a triangle half) and how far below
# the box's centre (the spec's centre) the centroid lies, in sides.
AREA_PER_SIDE2 = {"circle": np.pi / 4, "square": 1.0, "triangle": 0.5}
CENTROID_BELOW_CENTRE = {"circle": 0.0, "square": 0.0, "triangle": 1 / 6}
SUPERSAMPLING = 4


def _box_centre(shape: str, centroid: np.ndarray, area_px: float) -> tuple[np.ndarray, float]:
    """Bounding-box centre (2,) and side of a `shape` with this centroid and area."""
    side = np.sqrt(area_px / AREA_PER_SIDE2[shape])
    return centroid - np.array([0.0, CENTROID_BELOW_CENTRE[shape] * side]), side


def _template(shape: str, centre: np.ndarray, side: float, x0: int, y0: int, h: int, w: int) -> np.ndarray:
    """(h, w) pixel coverage of the spec's `shape` on the window whose top-left pixel is (x0, y0)."""
    offsets = (np.arange(SUPERSAMPLING) + 0.5) / SUPERSAMPLING
    dx = (np.arange(x0, x0 + w)[:, None] + offsets).reshape(1, -1) - centre[0]
    dy = (np.arange(y0, y0 + h)[:, None] + offsets).reshape(-1, 1) - centre[1]
    half = side / 2
    inside = {"circle": lambda: dx**2 + dy**2 <= half**2,
              "square": lambda: (np.abs(dx) <= half) & (np.abs(dy) <= half),
              "triangle": lambda: (np.abs(dy) <= half) & (np.abs(dx) <= (dy + half) / 2)}[shape]()
    return inside.reshape(h, SUPERSAMPLING, w, SUPERSAMPLING).mean(axis=(1, 3))


@dataclass
class _Blob:
    centroid: np.ndarray  # (2,) x, y of the coverage-weighted mass
    area_px: float  # summed coverage: exact under anti-aliasing, blur and zero-mean noise
    rgb: np.ndarray  # (3,) median interior colour
    shape_errors: np.ndarray  # (len(SHAPES),) misfit of each shape's template, relative to the area


def _measure_blob(frame: np.ndarray, labels: np.ndarray, index: int, box: tuple, bg: np.ndarray) -> _Blob:
    """Measure one object from its soft coverage, so anti-aliasing and blur cancel out, and
    ask which shape, placed and sized by that coverage's centroid and area, explains it best."""
    ys, xs = slice(max(box[0].start - 2, 0), box[0].stop + 2), slice(max(box[1].start - 2, 0), box[1].stop + 2)
    own = labels[ys, xs] == index
    delta = frame[ys, xs] - bg  # (h, w, 3)
    distance = np.linalg.norm(delta, axis=-1)
    interior = own & (distance >= 0.8 * distance[own].max())  # clear of anti-aliased edges
    colour = np.median(frame[ys, xs][interior], axis=0)
    contrast = colour - bg
    mine = own | ndimage.binary_dilation(own, iterations=2) & (labels[ys, xs] == 0)  # own pixels plus a faint rim
    weighted = contrast * COVER_WEIGHT
    cover = np.clip(delta @ weighted / (contrast @ weighted), 0.0, 1.0) * mine  # (h, w)
    area = max(cover.sum(), 1e-6)
    x_px = np.arange(xs.start, xs.start + cover.shape[1]) + 0.5
    y_px = np.arange(ys.start, ys.start + cover.shape[0]) + 0.5
    centroid = np.array([cover.sum(axis=0) @ x_px, cover.sum(axis=1) @ y_px]) / area
    errors = [((cover - _template(shape, *_box_centre(shape, centroid, area), xs.start, ys.start, *cover.shape))
               ** 2).sum() / area for shape in spec.SHAPES]
    return _Blob(centroid, float(area), np.linalg.solve(TO_SPACE, colour), np.array(errors))


def _split_by_colour(frame: np.ndarray, labels: np.ndarray, count: int, bg: np.ndarray,
                     min_area_px: float) -> tuple[np.ndarray, int]:
    """Touching objects of different colours form one component: split it where the colour's
    direction away from the background (the same at any edge coverage) changes palette entry.

    A split is kept only when solid pieces (not the one-pixel fringes a codec's chroma
    blur leaves) make up nearly all of the component, so an object whose drifting colour
    sits between two entries is not shattered.
    """
    directions = np.array([*spec.COLOURS.values(), spec.MARKER_MAGENTA], np.float64) @ TO_SPACE.T - bg  # (P, 3)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True) + 1e-9
    hue = np.argmax((frame - bg) @ directions.T, axis=-1)  # (H, W) nearest palette direction
    for index in range(1, count + 1):
        component = labels == index
        pieces = []
        for entry in np.unique(hue[component]):
            parts, num_parts = ndimage.label(component & (hue == entry), structure=np.ones((3, 3)))
            pieces += [p for p in (parts == k for k in range(1, num_parts + 1))
                       if p.sum() >= min_area_px and ndimage.binary_erosion(p).any()]
        if len(pieces) >= 2 and sum(p.sum() for p in pieces) >= 0.9 * component.sum():
            labels[component] = 0  # leftover edge pixels join the pieces' rims in _measure_blob
            for piece in pieces:
                count += 1
                labels[piece] = count
    return labels, count


def _frame_blobs(frame: np.ndarray, bg: np.ndarray, min_area_px: float) -> list[_Blob]:
    """The objects in one frame (H, W, 3), given in TO_SPACE like the background colour `bg`."""
    mask = np.linalg.norm(frame - bg, axis=-1) > FOREGROUND_DISTANCE  # (H, W)
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    labels, count = _split_by_colour(frame, labels, count, bg, min_area_px)
    boxes = ndimage.find_objects(labels)
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    return [_measure_blob(frame, labels, i + 1, boxes[i], bg) for i in range(count)
            if boxes[i] is not None and areas[i] >= min_area_px]


# ---------------------------------------------------------------- pixels: objects over time

def _track(blobs_per_frame: list[list[_Blob]], unit_px: float) -> list[list[_Blob | None]]:
    """Follow objects across frames by nearest centre (in `unit_px`), area and colour.

    The number of objects is the largest blob count seen in a quarter of the frames; frames
    with another count (objects touching, a flicker) are left out rather than guessed.
    """
    counts = Counter(len(b) for b in blobs_per_frame)
    common = min(len(blobs_per_frame) / 4, max(counts.values()))
    num_objects = max(n for n in counts if counts[n] >= common)
    tracks: list[list[_Blob | None]] = [[None] * len(blobs_per_frame) for _ in range(num_objects)]
    last: list[_Blob] = []
    for t, blobs in enumerate(blobs_per_frame):
        if len(blobs) != num_objects or num_objects == 0:
            continue
        # A small object's width of travel, doubling the area, or ~100 RGB levels cost alike.
        cost = np.array([[np.linalg.norm(a.centroid - b.centroid) / unit_px + abs(np.log(a.area_px / b.area_px))
                          + np.linalg.norm(a.rgb - b.rgb) / 100 for b in blobs] for a in last])  # (K, K)
        order = optimize.linear_sum_assignment(cost)[1] if last else range(num_objects)
        last = [blobs[j] for j in order]
        for k, blob in enumerate(last):
            tracks[k][t] = blob
    return tracks


def _nearest(rgb: np.ndarray, palette: dict, by_luma: bool = False, bg_rgb: np.ndarray | None = None) -> str:
    """Nearest palette entry, by luma for the background of a grayscale clip (as the `style`
    edit made it).

    With `bg_rgb`, an entry may be faded part-way toward the background first, as blur and
    anti-aliasing fade the interior of small objects.
    """
    names = list(palette)
    entries = np.array([palette[n] for n in names], np.float64)  # (P, 3)
    if by_luma:
        entries, rgb = spec.luma(entries)[:, None], spec.luma(rgb)[None]  # (P, 1), (1,)
    elif bg_rgb is not None:
        towards = entries - bg_rgb
        fade = np.clip(towards @ (rgb - bg_rgb) / np.maximum((towards**2).sum(axis=1), 1e-9), MIN_FADE, 1.0)
        entries = bg_rgb + fade[:, None] * towards
    return names[int(np.argmin(np.linalg.norm(entries - rgb, axis=-1)))]


def _motion(centres: np.ndarray, scale: float) -> str:
    """Direction of the straight-line fit to the centres, or still if it travels under half
    the spec's distance."""
    seen = ~np.isnan(centres[:, 0])
    if seen.sum() < 2:
        return "still"
    t = np.flatnonzero(seen)
    travel = np.polyfit(t, centres[seen], 1)[0] * (len(centres) - 1)  # (2,) dx, dy over the clip
    if np.abs(travel).max() < 0.5 * spec.SPEED_PX_PER_FRAME * (len(centres) - 1) * scale:
        return "still"
    axis = int(np.argmax(np.abs(travel)))
    return (("left", "right"), ("up", "down"))[axis][int(travel[axis] > 0)]


def _object_report(track: list[_Blob | None], scale: float, bg_rgb: np.ndarray) -> ObjectReport:
    seen = [b for b in track if b is not None]
    shape = spec.SHAPES[int(np.argmin(np.median([b.shape_errors for b in seen], axis=0)))]
    boxes = [_box_centre(shape, b.centroid, b.area_px) if b else (np.full(2, np.nan), np.nan) for b in track]
    centres = np.array([c for c, _ in boxes])  # (T, 2)
    extent = float(np.nanmedian([side for _, side in boxes]))
    rgb = np.median([b.rgb for b in seen], axis=0)
    size_threshold = np.mean(list(spec.SIZE_PX.values())) * scale
    palette = {**spec.COLOURS, MARKER: spec.MARKER_MAGENTA}
    return ObjectReport(shape=shape, colour=_nearest(rgb, palette, bg_rgb=bg_rgb),
                        size="large" if extent > size_threshold else "small",
                        motion=_motion(centres, scale), centres_px=centres, bbox_size_px=extent,
                        detected_fraction=len(seen) / len(track))


def _chroma(rgb: np.ndarray) -> float:
    return float(np.max(rgb) - np.min(rgb))


# ---------------------------------------------------------------- audio

FFT_SIZE = 16_384  # zero padding: ~1 Hz bins before peak interpolation
SEARCH_HZ = (180.0, 1000.0)  # fundamentals lie in 220-880 Hz; a margin for generated drift
SILENT_RMS = 0.01
SECOND_TONE_RATIO = 0.15  # a second fundamental's peak relative to the first (true minimum ~0.35)
# A third harmonic lies at three times its fundamental, give or take the 6% (a semitone) by
# which two merged close tones blur the fundamental's peak.
HARMONIC_TOLERANCE = 0.06
# Harmonic n of a square wave has amplitude 1/n, of a triangle wave 1/n^2, a sine has none
# beyond stray energy (noise, another tone's aliases) at about SINE_FLOOR of its fundamental.
HARMONICS = (3, 5, 7)
SINE_FLOOR = 0.005
EXCESS_WEIGHT = 0.25  # stray energy only ever adds to a harmonic, so a missing one weighs more
HARMONIC_MODELS = {"square": lambda n: 1.0 / n, "triangle": lambda n: 1.0 / n**2,
                   "sine": lambda n: np.zeros(len(n))}


def _spectrum(samples: np.ndarray) -> np.ndarray | None:
    """Magnitude spectrum (F,) of one frame's samples, None when it is silent."""
    if len(samples) < 64 or np.sqrt(np.mean(samples**2)) < SILENT_RMS:
        return None
    return np.abs(np.fft.rfft(samples * np.hanning(len(samples)), FFT_SIZE))


def _fundamentals(spectrum: np.ndarray, bin_hz: float, resolution_hz: float) -> list[float]:
    """Up to two fundamentals among the strong peaks in range, strongest first.

    Of two peaks about a factor three apart, the upper is the lower one's third harmonic when
    it carries less energy. Energy over a few bins, not peak height, because two close tones
    can cancel at their merged peak while their harmonics stand apart. (A second tone that
    close to another's third harmonic, and weaker, is lost: ~0.2% of two-object clips.)
    Peaks closer than `resolution_hz` (one bin of the unpadded window) are one tone's ripple.
    """
    def amplitude(f):
        lo, hi = int((f - 3 * resolution_hz) / bin_hz), int((f + 3 * resolution_hz) / bin_hz)
        return np.sqrt(np.sum(spectrum[lo:hi + 1] ** 2))

    def harmonic(upper, lower):
        return abs(upper / (3 * lower) - 1) < HARMONIC_TOLERANCE and amplitude(upper) < amplitude(lower)

    lo = int(SEARCH_HZ[0] / bin_hz)
    band = spectrum[lo:int(SEARCH_HZ[1] / bin_hz)]
    peaks = np.flatnonzero((band[1:-1] > band[:-2]) & (band[1:-1] >= band[2:])) + 1
    peaks = peaks[np.argsort(-band[peaks])]
    found: list[float] = []
    for p in peaks[band[peaks] >= SECOND_TONE_RATIO * band[peaks[0]]] if len(peaks) else []:
        a, b, c = np.log(band[p - 1:p + 2] + 1e-12)
        f = (lo + p + 0.5 * (a - c) / (a - 2 * b + c)) * bin_hz  # parabolic interpolation on log magnitude
        if any(abs(f - g) < resolution_hz or harmonic(f, g) for g in found):
            continue
        found = [g for g in found if not harmonic(g, f)] + [f]
        if len(found) == 2:
            break
    return found


def _pitch_tracks(fundamentals: list[list[float]]) -> np.ndarray:
    """(T, 2) Keep each tone in its column across frames, matching each frame's tones to
    where the columns' tones were heading, so tones that cross (or merge for a few frames
    while they cross) keep their columns."""
    pitch = np.full((len(fundamentals), 2), np.nan)
    last, slope, last_t = np.full(2, np.nan), np.zeros(2), np.zeros(2)  # log-pitch, per frame, frame
    for t, freqs in enumerate(fundamentals):
        if not freqs:
            continue
        cost = np.abs(np.log(freqs)[:, None] - (last + slope * (t - last_t))[None, :])  # (n, 2)
        cost[:, np.isnan(last)] = 10.0 + np.arange(2)[np.isnan(last)]  # new tones open column 0 first
        for r, c in zip(*optimize.linear_sum_assignment(cost)):
            if not np.isnan(last[c]):
                slope[c] = (np.log(freqs[r]) - last[c]) / (t - last_t[c])
            pitch[t, c], last[c], last_t[c] = freqs[r], np.log(freqs[r]), t
    return pitch


def _waveform(samples: np.ndarray, sample_rate_hz: float, tone: tuple[float, float],
              others: list[tuple[float, float]]) -> str:
    """The waveform whose harmonic amplitudes best fit those of a (pitch Hz, glide Hz per
    frame) tone, in log ratio to its fundamental, over the harmonics no other tone covers.

    Each harmonic is read by a filter matched to it, gliding as the tone glides (harmonic n
    glides n times as fast), so it sees neither a moving tone's smear nor stray partials a
    few Hz away (a naive square wave's aliases lie everywhere).
    """
    pitch, glide = tone
    t = (np.arange(len(samples)) - len(samples) / 2) / sample_rate_hz  # (L,) seconds from the frame's centre
    phase = 2 * np.pi * (pitch * t + 0.5 * glide * sample_rate_hz / len(samples) * t**2)  # glide per frame -> Hz/s
    windowed = samples * np.hanning(len(samples))

    reach_hz = 2 * sample_rate_hz / len(samples)  # half-width of the Hann window's main lobe

    def clear(n):  # no partial of another tone within the two filters' reach
        return all(abs(n * pitch - m * g) > 2 * reach_hz + n * abs(glide) + m * abs(g_glide)
                   for g, g_glide in others for m in range(1, int(sample_rate_hz / 2 / g), 2))

    orders = np.array([n for n in HARMONICS if clear(n)] or HARMONICS)
    amplitudes = np.abs(np.exp(-1j * orders[:, None] * phase[None]) @ windowed)  # (N,)
    ratios = amplitudes / max(abs(windowed @ np.exp(-1j * phase)), 1e-12)
    misfit = {}
    for name, model in HARMONIC_MODELS.items():
        excess = np.log(np.maximum(ratios, SINE_FLOOR)) - np.log(np.maximum(model(orders), SINE_FLOOR))  # (N,)
        misfit[name] = np.sum(np.where(excess > 0, EXCESS_WEIGHT, 1.0) * excess**2)
    return min(misfit, key=misfit.get)


def _listen(audio: np.ndarray, num_frames: int, hop: int, sample_rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame pitch tracks (T, 2) and their waveforms (T, 2), '' where silent."""
    windows = [audio[k * hop:(k + 1) * hop] for k in range(num_frames)]
    spectra = [_spectrum(w) for w in windows]
    bin_hz = sample_rate_hz / FFT_SIZE
    pitch = _pitch_tracks([[] if s is None else _fundamentals(s, bin_hz, sample_rate_hz / hop)
                           for s in spectra])  # (T, 2)
    glide = np.gradient(pitch, axis=0) if num_frames > 1 else np.zeros_like(pitch)  # (T, 2) Hz per frame
    known = ~np.isnan(glide)
    typical = [np.median(glide[known[:, c], c]) if known[:, c].any() else 0.0 for c in range(2)]
    glide = np.where(known, glide, typical)  # a tone's edges and gaps glide like the rest of it
    waveforms = np.full(pitch.shape, "", dtype=object)  # (T, 2)
    for t, window in enumerate(windows):
        tones = [(pitch[t, c], glide[t, c]) for c in range(2)]
        for c in np.flatnonzero(~np.isnan(pitch[t])):
            others = [tones[o] for o in range(2) if o != c and not np.isnan(tones[o][0])]
            waveforms[t, c] = _waveform(window, sample_rate_hz, tones[c], others)
    return pitch, waveforms


# ---------------------------------------------------------------- the clip

def _check_clip(clip: Clip) -> None:
    frames = clip.frames
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"judge_clip needs frames (T, H, W, 3) uint8, got {getattr(frames, 'shape', None)} "
                         f"{getattr(frames, 'dtype', type(frames))}")
    if len(frames) == 0 or frames.shape[1] != frames.shape[2]:
        raise ValueError(f"judge_clip needs at least one square frame, got frames of shape {frames.shape}")
    if np.ndim(clip.audio) != 1:
        raise ValueError(f"judge_clip needs mono audio (N,), got shape {np.shape(clip.audio)}")
    if not (clip.fps > 0 and clip.sample_rate_hz >= clip.fps):
        raise ValueError(f"judge_clip needs a positive frame rate and a sample rate above it, got "
                         f"{clip.fps} fps and {clip.sample_rate_hz} Hz")


def judge_clip(clip: Clip) -> ClipReport:
    """Report the background, objects, tones and edit traces of a clip."""
    _check_clip(clip)
    frames = clip.frames.astype(np.float64)  # (T, H, W, 3)
    size = frames.shape[1]
    scale = size / spec.REFERENCE_SIZE_PX
    bg_rgb = np.median(frames.reshape(-1, 3), axis=0)  # objects never cover half the frame
    min_area_px = 0.25 * spec.SIZE_PX["small"] ** 2 / 2 * scale**2  # a quarter of the smallest triangle
    blobs = [_frame_blobs(f @ TO_SPACE.T, bg_rgb @ TO_SPACE.T, min_area_px) for f in frames]
    tracks = _track(blobs, spec.SIZE_PX["small"] * scale)
    rgbs = [np.median([b.rgb for b in tr if b is not None], axis=0) for tr in tracks]
    grayscale = all(_chroma(c) < GRAY_CHROMA for c in [bg_rgb, *rgbs])
    objects = sorted((_object_report(tr, scale, bg_rgb) for tr in tracks),
                     key=lambda o: o.centres_px[~np.isnan(o.centres_px[:, 0])][0, 0])
    marker = np.linalg.norm(frames - np.array(spec.MARKER_MAGENTA), axis=-1) < MARKER_DISTANCE

    audio = np.asarray(clip.audio, np.float64)
    hop = int(round(clip.sample_rate_hz / clip.fps))
    pitch, waveforms = _listen(audio, len(frames), hop, clip.sample_rate_hz)
    timbre = [Counter(w for w in column if w).most_common(1)[0][0] for column in waveforms.T if any(column)]
    return ClipReport(background=_nearest(bg_rgb, spec.BACKGROUNDS, grayscale), objects=objects, pitch_hz=pitch,
                      timbre=timbre, tone_waveforms=waveforms, is_grayscale=grayscale,
                      marker_fraction=float(marker.mean()), frame_size_px=size)


# ---------------------------------------------------------------- sound against picture

def expected_pitch_hz(obj: ObjectReport, frame_size_px: int) -> np.ndarray:
    """(T,) the spec's pitch for the object's measured height; frames where the object was
    not found take the straight-line fit of its height (objects move in straight lines)."""
    y = obj.centres_px[:, 1].copy()
    seen = ~np.isnan(y)
    if seen.sum() >= 2:
        y[~seen] = np.polyval(np.polyfit(np.flatnonzero(seen), y[seen], 1), np.flatnonzero(~seen))
    elif seen.any():
        y[~seen] = y[seen][0]
    return spec.pitch_hz(y, frame_size_px)


def _semitones(a, b) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.abs(12 * np.log2(np.asarray(a, np.float64) / np.asarray(b, np.float64)))


def audio_matches(report: ClipReport, tolerance_semitones: float = 1.0) -> AudioAgreement:
    """Does the sound agree with the picture the judge saw?

    A frame's pitch agrees when every object's spec pitch has a detected tone within the
    tolerance and every detected tone belongs to an object. Timbre is judged per object by
    majority over the frames where its tone stands alone: tones within two tolerances of each
    other cannot be told apart in one frame's spectrum, so those frames do not vote (an
    object that is never alone passes; one never heard where it could be fails).
    """
    pitch = report.pitch_hz  # (T, 2)
    expected = np.array([expected_pitch_hz(o, report.frame_size_px) for o in report.objects]).reshape(
        len(report.objects), len(pitch))  # (K, T)
    close = _semitones(expected[:, :, None], pitch[None]) <= tolerance_semitones  # (K, T, 2)
    sounding = ~np.isnan(pitch)
    pitch_ok = close.any(axis=2).all(axis=0) & (close.any(axis=0) | ~sounding).all(axis=1)

    timbre_ok = True
    for k, obj in enumerate(report.objects):
        alone = (_semitones(expected, expected[k]) < 2 * tolerance_semitones).sum(axis=0) == 1  # (T,)
        heard = np.flatnonzero(alone & (close[k].sum(axis=1) == 1))  # frames with one tone near it
        votes = Counter(report.tone_waveforms[t, close[k, t]][0] for t in heard)
        if votes:
            timbre_ok &= votes.most_common(1)[0][0] == spec.WAVEFORM[obj.shape]
        else:
            timbre_ok &= not alone.any()  # unheard wherever it could have been heard
    return AudioAgreement(pitch_ok=pitch_ok, timbre_ok=bool(timbre_ok))
