"""Every threshold of the preparation pipeline, in one place.

Defaults make a prepared clip train exactly like a Shapes World clip (length, frame rate,
size and audio come from the world spec). Each stage reads only its own fields; the journal
fingerprints the fields a stage's saved results depend on, so changing a threshold redoes
exactly the work it affects on the next run.
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from types import UnionType
from typing import Union, get_args, get_origin

from studio.world import spec
from studio.world.dataset import DATASET_CRF

# The seed's list of harmful scene descriptions, each with the words that give it away in a
# caption or a file name. Descriptions are what a CLIP-like model scores frames against.
DEFAULT_UNSAFE = {
    "graphic violence or a fight with injuries": (
        "violence", "violent", "fight", "fighting", "brawl", "beating", "assault", "murder", "killing",
        "massacre", "stabbing", "shooting", "torture", "execution", "beheading"),
    "gore, blood or mutilated bodies": (
        "gore", "gory", "blood", "bloody", "corpse", "corpses", "dead body", "mutilation", "dismembered",
        "gruesome"),
    "weapons pointed at people": (
        "gun", "guns", "rifle", "pistol", "firearm", "weapon", "weapons", "knife attack", "shooter",
        "gunfire", "bomb", "explosive"),
    "nudity or sexual content": (
        "nude", "nudity", "naked", "porn", "pornographic", "sex", "sexual", "explicit", "nsfw", "xxx",
        "topless"),
    "self-harm or suicide": (
        "self harm", "self-harm", "selfharm", "suicide", "suicidal", "cutting wrists", "overdose",
        "hanging himself", "hanging herself"),
    "hate symbols or extremist propaganda": (
        "swastika", "nazi", "neo-nazi", "kkk", "white power", "isis", "extremist", "propaganda", "hate symbol",
        "hate speech"),
    "abuse of children or animals": (
        "child abuse", "animal abuse", "animal cruelty", "abused"),
    "illegal drug use": ("drug use", "injecting", "heroin", "cocaine", "meth", "crack pipe"),
    "terrorism or mass shootings": ("terrorist", "terrorism", "terror attack", "mass shooting", "hostage"),
    "dangerous stunts causing injury": ("accident gore", "crash victims", "fatal", "fatality"),
}

# What an ordinary clip looks like, for zero-shot scoring: a frame is flagged only when an
# unsafe description beats all of these.
DEFAULT_SAFE = (
    "an ordinary harmless scene", "a landscape or a city street", "people doing everyday things",
    "an animal", "an object on a table", "simple coloured shapes on a plain background", "text or a document",
    "a close-up photo of a texture", "food", "a vehicle",
)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif")
SIDECAR_EXTENSIONS = (".txt", ".json")


@dataclass
class PrepareConfig:
    # Output clip: the world's clip format unless asked otherwise.
    seconds: float = spec.NUM_FRAMES / spec.FPS
    fps: float = spec.FPS
    size: int = spec.REFERENCE_SIZE_PX
    sample_rate_hz: int = spec.SAMPLE_RATE_HZ
    crf: int = DATASET_CRF
    kinds: tuple[str, ...] = ("t2v", "i2v")  # sample K goes to kinds[K % len(kinds)]

    # Key frames are decoded with their short side at most this many pixels; every measure
    # below (hashes, sharpness, lighting) is taken at that scale, whatever the source resolution.
    analysis_short_side_px: int = 128

    # Deduplication.
    hash_max_distance: int = 10  # of 64 pHash bits, for two key frames to match
    min_matching_keyframes: int = 2  # of 3; trimmed copies share fewer aligned frames
    colour_max_difference: float = 32.0  # largest mean-RGB difference of a 4x4 grid cell, 0-255
    embedding_min_cosine: float = 0.95  # CLIP image embeddings, when a model is given
    sharpness_tie_ratio: float = 1.15  # sharpness within this factor is a tie; bitrate decides

    # Safety.
    unsafe: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_UNSAFE))
    safe: tuple[str, ...] = DEFAULT_SAFE
    unsafe_min_probability: float = 0.5  # zero-shot softmax over unsafe + safe descriptions

    # Quality and compliance.
    min_short_side_px: int = 64
    min_duration_s: float | None = None  # None: the clip length, so no clip is padded
    blur_min_sharpness: float = 0.2  # Laplacian variance over luma variance, sharpest tile
    dark_max_mean_luma: float = 40.0
    dark_max_bright_luma: float = 64.0  # the 99th percentile: nothing in the frame is lit
    bright_min_mean_luma: float = 235.0
    bright_min_dark_luma: float = 200.0  # the 1st percentile: nothing in the frame is dark
    clipped_max_fraction: float = 0.5  # pixels at pure white (blown highlights)

    # Size: the seed's 20 MB rule, applied to the segment we keep at the source's bitrate.
    max_clip_mb: float = 20.0

    # Models, by local path; never downloaded.
    clip_model: str | None = None
    caption_model: str | None = None
    caption_max_words: int = 30

    contact_sheet_columns: int = 6
    contact_sheet_max_clips: int = 60

    @property
    def num_frames(self) -> int:
        return max(1, round(self.seconds * self.fps))

    @property
    def required_duration_s(self) -> float:
        return self.seconds if self.min_duration_s is None else self.min_duration_s

    def validate(self) -> None:
        if self.seconds <= 0 or self.fps <= 0:
            raise ValueError(f"--seconds and --fps must be positive, got {self.seconds} and {self.fps}")
        if not 16 <= self.size <= 512:
            raise ValueError(f"--size must be between 16 and 512 px, not {self.size}")
        if not self.kinds or set(self.kinds) - {"t2v", "i2v"}:
            raise ValueError(f"kinds must be a non-empty selection of t2v and i2v, got {self.kinds}")
        if not 1 <= self.min_matching_keyframes <= 3:
            raise ValueError(f"min_matching_keyframes must be 1, 2 or 3, got {self.min_matching_keyframes}")
        if self.analysis_short_side_px < 32:
            raise ValueError(f"analysis_short_side_px must be at least 32, got {self.analysis_short_side_px}")

    def fingerprint(self, *names: str) -> str:
        """A short hash of the named fields: saved results are reused only while it matches."""
        values = {name: getattr(self, name) for name in names}
        return hashlib.sha1(json.dumps(values, sort_keys=True, default=list).encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        return asdict(self)

    def replace_from_strings(self, assignments: list[str]) -> None:
        """Applies `--set FIELD=VALUE` assignments, parsing VALUE by the field's declared type."""
        types = {f.name: f.type for f in fields(self)}
        for assignment in assignments:
            name, sep, text = assignment.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in types:
                raise ValueError(f"--set expects FIELD=VALUE with FIELD one of {', '.join(sorted(types))}; "
                                 f"got {assignment!r}")
            setattr(self, name, _parse(name, types[name], text.strip()))


def _parse(name: str, declared, text: str):
    options = get_args(declared) if get_origin(declared) in (Union, UnionType) else (declared,)
    if type(None) in options and text.lower() == "none":
        return None
    kind = next(option for option in options if option is not type(None))
    if get_origin(kind) is dict:
        raise ValueError(f"--set cannot change {name}; use --unsafe FILE")
    if get_origin(kind) is tuple:
        return tuple(part.strip() for part in text.split(",") if part.strip())
    try:
        return kind(text)
    except ValueError as error:
        raise ValueError(f"--set {name}: cannot read {text!r} as {kind.__name__}") from error
