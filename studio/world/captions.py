"""Captions of the spec's grammar: full ones for the dataset, partial ones for training."""

import numpy as np

from studio.world import spec
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


def parse_caption(text: str) -> tuple[str | None, list[dict]]:
    """A caption of the grammar back into (background or None, one dict per object phrase of
    the attributes it names); what a phrase leaves out is missing from its dict. Raises
    ValueError on text outside the grammar."""
    words = text.strip().split()
    background = None
    if words[-4:-2] == ["on", "a"] and words[-1:] == ["background"]:
        background, words = words[-2], words[:-4]
        if background not in spec.BACKGROUNDS:
            raise ValueError(f"unknown background {background!r} in {text!r}")
    objects, phrase = [], []
    for word in [*words, "and"]:
        if word != "and":
            phrase.append(word)
            continue
        if phrase:
            objects.append(_parse_object(phrase, text))
        phrase = []
    return background, objects


def _parse_object(phrase: list[str], text: str) -> dict:
    attributes = {}
    if phrase[-2:-1] == ["moving"] and phrase[-1] in spec.MOTIONS:
        attributes["motion"], phrase = phrase[-1], phrase[:-2]
    elif phrase[-2:] == ["staying", "still"]:
        attributes["motion"], phrase = "still", phrase[:-2]
    if phrase[:1] == ["something"] and len(phrase) == 1:
        return attributes
    if phrase[:1] != ["a"] or len(phrase) < 2:
        raise ValueError(f"not a caption of the Shapes World grammar: {text!r}")
    for word in phrase[1:-1]:
        key = "size" if word in spec.SIZE_PX else "colour" if word in spec.COLOURS else None
        if key is None or key in attributes:
            raise ValueError(f"unexpected {word!r} in {text!r}")
        attributes[key] = word
    if phrase[-1] in spec.SHAPES:
        attributes["shape"] = phrase[-1]
    elif phrase[-1] != "shape" or len(phrase) == 2:
        raise ValueError(f"unknown shape {phrase[-1]!r} in {text!r}")
    return attributes
