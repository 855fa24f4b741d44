"""The spec's edit families as exact (source, instruction, task, target) examples.

Every edit changes the scene and renders again with the same start positions, so the true
edited clip is known exactly; `segment`, `style` and `reverse` transform the source render.
"""

from dataclasses import dataclass

import numpy as np

from studio.media import Clip
from studio.world import spec
from studio.world.captions import object_phrase
from studio.world.render import render_clip
from studio.world.scene import NO_HOLDOUT, Holdout, Scene, place_object, random_attributes, sample_scene

# Varied wordings; the first of each is the spec's canonical form. Placeholders: {ref} the
# object the edit is about, {colour}, {shape}, {background} the new value, {object} a full
# object phrase.
WORDINGS = {
    "recolor": ("make the {ref} {colour}", "change the colour of the {ref} to {colour}", "recolour the {ref} {colour}",
                "paint the {ref} {colour}", "colour the {ref} {colour}", "the {ref} should be {colour}",
                "give the {ref} a {colour} colour", "turn the {ref} {colour}"),
    "reshape": ("turn the {ref} into a {shape}", "change the {ref} into a {shape}", "make the {ref} a {shape}",
                "reshape the {ref} into a {shape}", "morph the {ref} into a {shape}",
                "the {ref} should become a {shape}", "replace the {ref} with a {shape} of the same colour"),
    "background": ("change the background to {background}", "make the background {background}",
                   "set the background to {background}", "use a {background} background",
                   "put it on a {background} background", "swap the background for {background}",
                   "paint the background {background}"),
    "remove": ("remove the {ref}", "delete the {ref}", "take out the {ref}", "get rid of the {ref}",
               "erase the {ref}", "make the {ref} disappear"),
    "add": ("add {object}", "insert {object}", "put {object} in the scene", "also show {object}",
            "place {object} in the scene", "include {object} too"),
    "segment": ("highlight the {ref}", "segment the {ref}", "mark the {ref}", "select the {ref}",
                "mask the {ref} in magenta", "show where the {ref} is"),
    "style": ("make it grayscale", "make it black and white", "turn it grayscale", "convert it to grayscale",
              "desaturate the video", "make it monochrome", "drain the colour out of it"),
    "reverse": ("play it backwards", "reverse the video", "play it in reverse", "run it backwards",
                "reverse it", "make it go backwards"),
}
assert set(WORDINGS) == set(spec.EDIT_TASKS)


@dataclass(frozen=True)
class Edit:
    task: str
    source: Scene
    target: Scene  # the scene after the edit (equal to source for segment, style, reverse)
    values: dict  # the placeholders of WORDINGS for this edit
    inverse_values: dict | None  # the same for the edit that undoes it, when one exists
    object_index: int | None = None  # which source object `segment` paints

    @property
    def instruction(self) -> str:
        """The spec's canonical wording."""
        return WORDINGS[self.task][0].format(**self.values)

    @property
    def inverse_instruction(self) -> str | None:
        if self.inverse_values is None:
            return None
        return WORDINGS[self.inverse_task][0].format(**self.inverse_values)

    @property
    def inverse_task(self) -> str:
        return {"add": "remove", "remove": "add"}.get(self.task, self.task)

    def wordings(self) -> list[str]:
        return [w.format(**self.values) for w in WORDINGS[self.task]]

    def inverse_wordings(self) -> list[str]:
        if self.inverse_values is None:
            return []
        return [w.format(**self.inverse_values) for w in WORDINGS[self.inverse_task]]

    def random_wording(self, rng: np.random.Generator) -> str:
        return str(rng.choice(self.wordings()))

    def to_dict(self) -> dict:
        return {"task": self.task, "instruction": self.instruction, "inverse_instruction": self.inverse_instruction,
                "wordings": self.wordings(), "source_scene": self.source.to_dict(),
                "target_scene": self.target.to_dict(), "object_index": self.object_index}


def reference(scene: Scene, index: int, with_colour: bool | None = None) -> str:
    """How an instruction names an object: its shape alone in a one-object scene (and where
    the shape is unique, unless `with_colour`), else colour and shape (the spec's forms)."""
    obj = scene.objects[index]
    if with_colour is None:
        with_colour = sum(o.shape == obj.shape for o in scene.objects) > 1
    return f"{obj.colour} {obj.shape}" if with_colour else obj.shape


def _distinct(scene: Scene) -> bool:
    return len(scene.objects) < 2 or not scene.objects[0].describes(scene.objects[1])


def _choose_other(rng, values, current) -> str:
    return str(rng.choice([v for v in values if v != current]))


def propose_edit(rng: np.random.Generator, task: str, scene: Scene) -> Edit | None:
    """One random edit of `task` on `scene`, or None if the scene does not allow it."""
    two = len(scene.objects) == 2
    i = int(rng.integers(len(scene.objects)))
    obj = scene.objects[i]
    if task == "recolor":
        colour = _choose_other(rng, list(spec.COLOURS), obj.colour)
        target = scene.with_object(i, colour=colour)
        return Edit(task, scene, target, {"ref": reference(scene, i, with_colour=two), "colour": colour},
                    {"ref": reference(target, i, with_colour=two), "colour": obj.colour})
    if task == "reshape":
        shape = _choose_other(rng, spec.SHAPES, obj.shape)
        target = scene.with_object(i, shape=shape)
        return Edit(task, scene, target, {"ref": reference(scene, i), "shape": shape},
                    {"ref": reference(target, i), "shape": obj.shape})
    if task == "background":
        background = _choose_other(rng, list(spec.BACKGROUNDS), scene.background)
        target = Scene(background, scene.objects)
        return Edit(task, scene, target, {"background": background}, {"background": scene.background})
    if task == "remove":
        if not two:
            return None
        target = Scene(scene.background, scene.objects[:i] + scene.objects[i + 1:])
        return Edit(task, scene, target, {"ref": reference(scene, i, with_colour=True)}, {"object": object_phrase(obj)})
    if task == "add":
        if two:
            return None
        try:
            new = place_object(rng, scene.objects, **random_attributes(rng))
        except ValueError:
            return None
        target = Scene(scene.background, scene.objects + (new,))
        return Edit(task, scene, target, {"object": object_phrase(new)}, {"ref": reference(target, 1, with_colour=True)})
    if task == "segment":
        return Edit(task, scene, scene, {"ref": reference(scene, i, with_colour=two)}, None, object_index=i)
    if task == "style":
        return Edit(task, scene, scene, {}, None)
    if task == "reverse":
        return Edit(task, scene, scene, {}, {})
    raise ValueError(f"unknown edit task {task!r}; expected one of {spec.EDIT_TASKS}")


def sample_edit(rng: np.random.Generator, task: str | None = None, holdout: Holdout = NO_HOLDOUT,
                split: str = "train") -> Edit:
    """A random edit; neither its source nor its target shows a held-out combination in
    the train split, and its source does in the held-out split."""
    if task is not None and task not in spec.EDIT_TASKS:
        raise ValueError(f"unknown edit task {task!r}; expected one of {spec.EDIT_TASKS}")
    for _ in range(1000):
        chosen = task or str(rng.choice(spec.EDIT_TASKS))
        num_objects = {"remove": 2, "add": 1}.get(chosen)
        edit = propose_edit(rng, chosen, sample_scene(rng, num_objects, holdout, split))
        if edit is None or not _distinct(edit.target):
            continue
        if split == "train" and holdout.is_held_out(edit.target):
            continue
        return edit
    raise RuntimeError(f"could not sample a {task} edit")


def grayscale(frames: np.ndarray) -> np.ndarray:
    """The `style` edit: every pixel becomes its luma. (T, H, W, 3) uint8 in and out."""
    y = np.clip(np.rint(spec.luma(frames.astype(np.float32))), 0, 255).astype(np.uint8)
    return np.repeat(y[..., None], 3, axis=-1)


def render_edit(edit: Edit, size: int = spec.REFERENCE_SIZE_PX) -> tuple[Clip, Clip]:
    """(source clip, exact target clip)."""
    source = render_clip(edit.source, size)
    if edit.task == "segment":
        target = render_clip(edit.source, size, highlight=edit.object_index)
    elif edit.task == "style":
        target = Clip(grayscale(source.frames), source.audio, source.fps, source.sample_rate_hz)
    elif edit.task == "reverse":
        target = Clip(source.frames[::-1].copy(), source.audio[::-1].copy(), source.fps, source.sample_rate_hz)
    else:
        target = render_clip(edit.target, size)
    return source, target


def image_triplet(rng: np.random.Generator, edit: Edit, size: int = spec.REFERENCE_SIZE_PX):
    """(source frame, instruction, target frame) from one frame of an edit, for single-frame
    editing (Movie Gen Edit stage I). `reverse` has no single-frame meaning."""
    if edit.task == "reverse":
        raise ValueError("a reverse edit has no single-frame triplet")
    source, target = render_edit(edit, size)
    k = int(rng.integers(len(source.frames)))
    return source.frames[k], edit.random_wording(rng), target.frames[k]
