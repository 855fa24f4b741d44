"""Generation object by object: a prompt that names its objects one by one ("a red circle
moving left and a blue square moving up on a navy background") is sampled as one stream per
object, all in one batch, and each stream's main object is laid over the background. Given a
first frame, each stream starts from an image of its own object alone (`split_image`; the
pipeline matches objects to phrases). An edit that names one object of several is made on that
object alone (`split_objects`; the edit pipeline picks the object and lays the others back).

Why: the generator reads a caption as a bag of attributes. Asked for two objects, it gives one
the other's colour, shape or motion and draws copies; asked for one, it gets colour, shape and
motion right in 84 % of the evaluation's clips (README, Object by object); the edit transformer,
asked to recolour one of two objects, paints either or both. LLM-grounded Diffusion (Lian et al.
2023) composes per-object latents the same way, from boxes an LLM drew; here each stream places
its own object. It assumes what a checkpoint trained on the Shapes World has, flat
backgrounds with objects on them, so checkpoints opt in (`compose_objects` in their
model_index.json).
"""

import re

import numpy as np
import torch
from scipy import ndimage

# A cell is an object's when its latent lies this far from its frame's median cell (the
# background of a flat-background clip); training's foreground weights use the same test.
FOREGROUND_DISTANCE = 2.0
ONE_THING = ("a", "an", "one", "the", "something")  # first words of a phrase naming a single object
MAX_OBJECTS = 4  # more streams than this would make a request too slow (each is a batch row)
IMAGE_FOREGROUND = 30.0  # RGB distance from the pixels' median colour beyond which a pixel is an object's
MIN_OBJECT_PX = 4  # smaller regions of a frame are specks, not objects


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


def split_objects(frames: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each object of frames (T, H, W, 3) uint8 as (the frames with every other object painted
    over with the background, the median colour; mask (T, H, W) of the object's pixels grown
    by one): the regions further than `IMAGE_FOREGROUND` from the background, connected over
    space and time, of at least `MIN_OBJECT_PX` pixels a frame on average. Objects that touch
    in some frame come out as one."""
    back = np.median(frames.reshape(-1, 3), 0)
    foreground = np.linalg.norm(frames - back, axis=-1) > IMAGE_FOREGROUND  # (T, H, W)
    labels, found = ndimage.label(foreground, structure=np.ones((3, 3, 3)))
    sizes = ndimage.sum(labels > 0, labels, index=np.arange(1, found + 1))
    edge = ndimage.generate_binary_structure(2, 1)[None]  # grows each frame by one pixel
    objects = []
    for label in 1 + np.flatnonzero(sizes >= MIN_OBJECT_PX * len(frames)):
        others = ndimage.binary_dilation((labels > 0) & (labels != label), edge) & (labels != label)
        alone = frames.copy()
        alone[others] = back.round().astype(np.uint8)
        objects.append((alone, ndimage.binary_dilation(labels == label, edge)))
    return objects


def split_image(image: np.ndarray, count: int) -> list[np.ndarray] | None:
    """The first frame (H, W, 3) uint8 as `count` images of one object each (`split_objects`),
    or None unless it shows exactly `count` objects."""
    objects = split_objects(image[None])
    return [alone[0] for alone, _ in objects] if len(objects) == count else None


def background(video: torch.Tensor) -> torch.Tensor:
    """Each latent frame's median cell (N, C, T, 1, 1) of latents (N, C, T, h, w)."""
    return video.flatten(3).median(-1).values[..., None, None]


def object_distance(video: torch.Tensor) -> torch.Tensor:
    """How far each cell lies from its frame's background: (N, T, h, w)."""
    return (video - background(video)).norm(dim=1)


def main_object(distance: np.ndarray) -> np.ndarray:
    """Mask (T, h, w) of the object cells connected over space and time that carry the most
    distance (a stream's object; copies and specks are the other regions), grown by one cell
    in h and w for its soft edge."""
    labels, count = ndimage.label(distance > FOREGROUND_DISTANCE, structure=np.ones((3, 3, 3)))
    if count == 0:
        return np.zeros(distance.shape, bool)
    mass = ndimage.sum(distance, labels, index=np.arange(1, count + 1))
    grow = np.zeros((3, 3, 3), bool)
    grow[1, 1, :] = grow[1, :, 1] = True
    return ndimage.binary_dilation(labels == 1 + int(np.argmax(mass)), structure=grow)


def layout(streams: torch.Tensor, num_objects: int) -> torch.Tensor:
    """Which stream each cell of the composed clip comes from: (N, 1, T, h, w) in [0, k], k =
    `num_objects` meaning the first stream's background. `streams` (k * N, C, T, h, w) are
    latents, object-major (stream j of candidate i at j * N + i). Where two objects claim a
    cell, the one further from its background wins; a cell no object claims comes from the
    stream nearest its background there (one stream: the background itself), so a copy one
    stream drew is painted over by another's background."""
    k = num_objects
    distance = object_distance(streams).numpy()  # (k * N, T, h, w)
    masks = np.stack([main_object(d) for d in distance])
    distance, masks = (a.reshape(k, -1, *a.shape[1:]) for a in (distance, masks))
    calmest = distance.argmin(0) if k > 1 else np.full(distance.shape[1:], k)
    index = np.where(masks.any(0), np.where(masks, distance, -np.inf).argmax(0), calmest)  # (N, T, h, w)
    return torch.from_numpy(index)[:, None]


def lay_out(streams: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The composed latents (N, C, T, h, w): each cell from the stream `index` names."""
    n = index.shape[0]
    choices = torch.cat([streams, background(streams[:n]).expand_as(streams[:n])])
    choices = choices.reshape(-1, n, *streams.shape[1:])  # (k + 1, N, C, T, h, w)
    return torch.gather(choices, 0, index[None].expand(1, -1, streams.shape[1], -1, -1, -1))[0]


def mix(waveforms: np.ndarray, num_objects: int) -> np.ndarray:
    """Each candidate's streams' sounds (k * N, samples) summed and clipped to [-1, 1], as the
    world sounds its objects' tones together."""
    return np.clip(waveforms.reshape(num_objects, -1, waveforms.shape[-1]).sum(0), -1, 1)
