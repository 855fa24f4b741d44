"""Scenes of the Shapes World: what is in a clip, how it is drawn at random, and held-out
attribute combinations.

Positions are kept at the 64-px reference size; the renderer scales them to any frame size.
"""

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from studio.world import spec

ATTRIBUTES = ("shape", "colour", "size", "motion")


@dataclass(frozen=True)
class WorldObject:
    shape: str
    colour: str
    size: str
    motion: str
    x0: float  # centre at frame 0, reference pixels
    y0: float

    @property
    def size_px(self) -> float:
        return spec.SIZE_PX[self.size]

    def centres(self, num_frames: int = spec.NUM_FRAMES) -> np.ndarray:
        """Centre per frame in reference pixels: (T, 2) as (x, y)."""
        dx, dy = spec.MOTION_DIRECTION[self.motion]
        k = np.arange(num_frames, dtype=np.float64)[:, None]
        step = spec.SPEED_PX_PER_FRAME * np.array([dx, dy])
        return np.array([self.x0, self.y0]) + k * step

    def boxes(self, num_frames: int = spec.NUM_FRAMES) -> np.ndarray:
        """Bounding box per frame: (T, 4) as (x_min, y_min, x_max, y_max)."""
        c = self.centres(num_frames)
        half = self.size_px / 2
        return np.concatenate([c - half, c + half], axis=1)

    def describes(self, other: "WorldObject") -> bool:
        return self.shape == other.shape and self.colour == other.colour


@dataclass(frozen=True)
class Scene:
    background: str
    objects: tuple[WorldObject, ...]

    def to_dict(self) -> dict:
        return {"background": self.background, "objects": [asdict(o) for o in self.objects]}

    @staticmethod
    def from_dict(d: dict) -> "Scene":
        return Scene(d["background"], tuple(WorldObject(**o) for o in d["objects"]))

    def with_object(self, index: int, **changes) -> "Scene":
        objects = list(self.objects)
        objects[index] = replace(objects[index], **changes)
        return replace(self, objects=tuple(objects))

    def exchanged(self, attribute: str) -> "Scene":
        """A two-object scene with `attribute` exchanged between its objects: the same words
        in its caption, bound the other way round."""
        a, b = self.objects
        return self.with_object(0, **{attribute: getattr(b, attribute)}).with_object(1, **{attribute: getattr(a, attribute)})


# ---------------------------------------------------------------- held-out combinations

@dataclass(frozen=True)
class Holdout:
    """Attribute combinations kept out of training, so evaluation can test unseen ones.

    A combination names any of shape, colour, size, motion and background, e.g.
    `{"colour": "purple", "shape": "triangle"}`; an object matches it when every named
    attribute agrees (background is the scene's).
    """

    combos: tuple[tuple[tuple[str, str], ...], ...] = field(default_factory=tuple)

    @staticmethod
    def parse(texts: list[str]) -> "Holdout":
        """From strings like `colour=purple,shape=triangle`."""
        combos = []
        allowed = {"shape": spec.SHAPES, "colour": tuple(spec.COLOURS), "size": tuple(spec.SIZE_PX),
                   "motion": spec.MOTIONS, "background": tuple(spec.BACKGROUNDS)}
        for text in texts:
            items = []
            for part in text.split(","):
                key, _, value = part.strip().partition("=")
                if key not in allowed or value not in allowed[key]:
                    raise ValueError(f"bad hold-out '{part}' in '{text}': expected key=value with key in "
                                     f"{sorted(allowed)} and a value of the spec")
                items.append((key, value))
            combos.append(tuple(sorted(items)))
        return Holdout(tuple(combos))

    def to_strings(self) -> list[str]:
        return [",".join(f"{k}={v}" for k, v in combo) for combo in self.combos]

    def matching_combo(self, obj: WorldObject, background: str):
        for combo in self.combos:
            values = {**{a: getattr(obj, a) for a in ATTRIBUTES}, "background": background}
            if all(values[k] == v for k, v in combo):
                return combo
        return None

    def is_held_out(self, scene: Scene) -> bool:
        return any(self.matching_combo(o, scene.background) for o in scene.objects)


# The shipped models never see these in training; every evaluation reports them apart.
DEFAULT_HOLDOUT = Holdout.parse(["colour=purple,shape=triangle", "colour=orange,shape=circle,motion=up",
                                 "colour=white,background=beige"])
NO_HOLDOUT = Holdout()


# ---------------------------------------------------------------- sampling

def _random_start(rng: np.random.Generator, size: str, motion: str) -> tuple[float, float]:
    """A start centre that keeps the whole object inside the frame in every frame."""
    half = spec.SIZE_PX[size] / 2
    travel = spec.SPEED_PX_PER_FRAME * (spec.NUM_FRAMES - 1)
    dx, dy = spec.MOTION_DIRECTION[motion]
    lo_x, hi_x = half - min(dx, 0) * travel, spec.REFERENCE_SIZE_PX - half - max(dx, 0) * travel
    lo_y, hi_y = half - min(dy, 0) * travel, spec.REFERENCE_SIZE_PX - half - max(dy, 0) * travel
    return float(rng.uniform(lo_x, hi_x)), float(rng.uniform(lo_y, hi_y))


def boxes_overlap(a: WorldObject, b: WorldObject) -> bool:
    """True when the two bounding boxes overlap in any frame."""
    ba, bb = a.boxes(), b.boxes()
    apart = (ba[:, 2] <= bb[:, 0]) | (bb[:, 2] <= ba[:, 0]) | (ba[:, 3] <= bb[:, 1]) | (bb[:, 3] <= ba[:, 1])
    return not bool(apart.all())


def place_object(rng: np.random.Generator, others: tuple[WorldObject, ...], **attributes) -> WorldObject:
    """An object with the given attributes at a random start clear of `others`."""
    for _ in range(200):
        obj = WorldObject(**attributes, x0=0.0, y0=0.0)
        x0, y0 = _random_start(rng, obj.size, obj.motion)
        obj = replace(obj, x0=x0, y0=y0)
        if not any(boxes_overlap(obj, o) for o in others):
            return obj
    raise ValueError(f"no free place for a {attributes} object beside {len(others)} others")


def random_attributes(rng: np.random.Generator) -> dict:
    return {
        "shape": str(rng.choice(spec.SHAPES)),
        "colour": str(rng.choice(list(spec.COLOURS))),
        "size": str(rng.choice(list(spec.SIZE_PX))),
        "motion": str(rng.choice(spec.MOTIONS)),
    }


def sample_scene(rng: np.random.Generator, num_objects: int | None = None,
                 holdout: Holdout = NO_HOLDOUT, split: str = "train") -> Scene:
    """A random scene. With split="train" no object matches a held-out combination; with
    split="heldout" the first object is forced to match one of them."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', not {split!r}")
    if split == "heldout" and not holdout.combos:
        raise ValueError("split='heldout' needs a hold-out with at least one combination")
    num_objects = int(rng.integers(1, 3)) if num_objects is None else num_objects
    if num_objects not in (1, 2):
        raise ValueError(f"a scene has one or two objects, not {num_objects}")
    for _ in range(1000):
        background = str(rng.choice(list(spec.BACKGROUNDS)))
        attrs = [random_attributes(rng) for _ in range(num_objects)]
        if split == "heldout":
            combo = dict(holdout.combos[int(rng.integers(len(holdout.combos)))])
            background = combo.pop("background", background)
            attrs[0].update(combo)
        if num_objects == 2 and attrs[0]["shape"] == attrs[1]["shape"] and attrs[0]["colour"] == attrs[1]["colour"]:
            continue
        try:
            objects: tuple[WorldObject, ...] = ()
            for a in attrs:
                objects += (place_object(rng, objects, **a),)
        except ValueError:
            continue
        scene = Scene(background, objects)
        if split == "train" and holdout.is_held_out(scene):
            continue
        return scene
    raise RuntimeError("could not sample a scene; is the hold-out excluding everything?")
