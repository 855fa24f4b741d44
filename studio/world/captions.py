"""Captions of the spec's grammar: full ones for the dataset, partial ones for training."""

import numpy as np

from studio.world.scene import Scene, WorldObject


def object_phrase(obj: WorldObject, named: frozenset[str] = frozenset({"size", "colour", "shape", "motion"})) -> str:
    """`a small red circle moving left`; attributes not in `named` are left out."""
    adjectives = [getattr(obj, a) for a in ("size", "colour") if a in named]
    if "shape" in named:
        noun = " ".join(["a", *adjectives, obj.shape])
    else:
        noun = " ".join(["a", *adjectives, "shape"]) if adjectives else "something"
    if "motion" not in named:
        return noun
    return f"{noun} staying still" if obj.motion == "still" else f"{noun} moving {obj.motion}"


def caption(scene: Scene) -> str:
    """The full caption of the spec."""
    objects = " and ".join(object_phrase(o) for o in scene.objects)
    return f"{objects} on a {scene.background} background"


def partial_caption(rng: np.random.Generator, scene: Scene, keep_probability: float = 0.6) -> str:
    """A caption naming a random subset of attributes (at least one); the rest are free."""
    while True:
        named = [frozenset(a for a in ("size", "colour", "shape", "motion") if rng.random() < keep_probability)
                 for _ in scene.objects]
        with_background = bool(rng.random() < keep_probability)
        if with_background or any(named):
            break
    text = " and ".join(object_phrase(o, n) for o, n in zip(scene.objects, named))
    return f"{text} on a {scene.background} background" if with_background else text
