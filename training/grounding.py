"""Grounding object words in cross-attention (after TokenCompose, Wang et al. 2024), so a
two-object scene binds each object's words to that object.

The generator gets a two-object scene's count about right but swaps or blends attributes
between the objects (README, Two objects). The Shapes World knows where every object is in
every frame and which caption words name it, so training can ask, besides the denoising loss,
that each word of an object's phrase spends its attention on that object's tokens: for word j
of object k and every block, 1 minus the share of j's attention mass (over the video tokens)
that falls on tokens touching object k, squared, averaged over words and blocks.

Data outside the Shapes World grammar has no objects here and adds nothing to the loss.
"""

import re

import numpy as np
import torch
import torch.nn.functional as F

from studio.world import spec
from studio.world.scene import Scene

MAX_OBJECTS = 2  # the world's scenes hold one or two
ATTRIBUTE_WORDS = frozenset([*spec.SHAPES, *spec.COLOURS, *spec.SIZE_PX, *spec.MOTIONS])
MIN_COVER = 0.1  # of a token's latent cells (their largest coverage) for the token to touch an object


def word_objects(text: str, tokenizer, max_length: int) -> np.ndarray:
    """For each of `max_length` tokens of `text`, the object (0 or 1, in caption order) whose
    phrase names it by an attribute word, or -1. Read by the world's grammar: object phrases
    joined by `and`, then an optional `on a ... background`."""
    spans, index = [], 0
    for match in re.finditer(r"\S+", text):
        word = match.group()
        if word == "on":
            break
        if word == "and":
            index += 1
        elif word in ATTRIBUTE_WORDS and index < MAX_OBJECTS:
            spans.append((match.start(), match.end(), index))
    objects = np.full(max_length, -1, np.int8)
    encoded = tokenizer(text, max_length=max_length, truncation=True, return_offsets_mapping=True)
    for token, (begin, end) in enumerate(encoded["offset_mapping"][:max_length]):
        for lo, hi, index in spans:
            if end > begin and lo <= begin and end <= hi:
                objects[token] = index
    return objects


def object_masks(scene: Scene, latent_frames: int, latent_size: int) -> np.ndarray:
    """Each object's bounding box as coverage of the latent grid (MAX_OBJECTS, T', h, w), the
    mean over the frames each latent frame encodes; zero for absent objects."""
    masks = np.zeros((MAX_OBJECTS, latent_frames, latent_size, latent_size), np.float32)
    frames_per_latent = spec.NUM_FRAMES // latent_frames
    edges = np.arange(latent_size + 1) * spec.REFERENCE_SIZE_PX / latent_size  # cell edges, reference px
    for k, obj in enumerate(scene.objects[:MAX_OBJECTS]):
        for t, (x0, y0, x1, y1) in enumerate(obj.boxes(spec.NUM_FRAMES)):
            cover_x = np.clip(np.minimum(edges[1:], x1) - np.maximum(edges[:-1], x0), 0, None)
            cover_y = np.clip(np.minimum(edges[1:], y1) - np.maximum(edges[:-1], y0), 0, None)
            cell = spec.REFERENCE_SIZE_PX / latent_size
            masks[k, t // frames_per_latent] += np.outer(cover_y, cover_x) / cell**2 / frames_per_latent
    return masks


def grounding_loss(cross_attention: torch.Tensor, text_objects: torch.Tensor, masks: torch.Tensor,
                   patch_size: tuple[int, int, int]) -> torch.Tensor:
    """cross_attention (B, depth, Nv, L') over text then task tokens, text_objects (B, L) with
    L <= L', masks (B, K, T', h, w) -> mean of (1 - attention share inside the object)^2 over
    every object word and block. Words of objects the masks do not hold (data outside the
    world) count for nothing; zero when no word counts."""
    touched = F.max_pool3d(masks, patch_size, patch_size).flatten(2) > MIN_COVER  # (B, K, Nv)
    length = text_objects.shape[1]
    maps = cross_attention[..., :length].float()  # (B, depth, Nv, L)
    total = maps.sum(2).clamp(min=1e-8)  # (B, depth, L)
    loss, count = maps.new_zeros(()), 0
    for k in range(masks.shape[1]):
        named = (text_objects == k) & touched[:, k].any(-1, keepdim=True)  # (B, L)
        share = (maps * touched[:, None, k, :, None]).sum(2) / total  # (B, depth, L)
        loss = loss + ((1 - share) ** 2 * named[:, None]).sum()
        count = count + named.sum()
    return loss / (count * cross_attention.shape[1]).clamp(min=1)
