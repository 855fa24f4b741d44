"""The generator's contrastive binding loss (training/binding.py)."""

import numpy as np
import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from models.joint_transformer import JointTransformerOutput
from studio.world.captions import caption
from studio.world.scene import ATTRIBUTES, DEFAULT_HOLDOUT, Holdout, sample_scene
from training.binding import binding_loss, swap_binding
from training.loop import Batch


def test_a_swap_exchanges_one_attribute_between_the_objects():
    rng, unswappable = np.random.default_rng(0), 0
    for _ in range(200):
        scene = sample_scene(rng, 2, DEFAULT_HOLDOUT)
        swapped = swap_binding(scene, rng, DEFAULT_HOLDOUT)
        if swapped is None:  # every exchange would make a held-out combination
            unswappable += 1
            continue
        assert caption(swapped) != caption(scene)
        assert not DEFAULT_HOLDOUT.is_held_out(swapped)
        changed = [a for a in ATTRIBUTES if getattr(swapped.objects[0], a) != getattr(scene.objects[0], a)]
        assert len(changed) == 1, changed
        (name,) = changed
        assert getattr(swapped.objects[0], name) == getattr(scene.objects[1], name)
        assert getattr(swapped.objects[1], name) == getattr(scene.objects[0], name)
        assert sorted(caption(swapped).split()) == sorted(caption(scene).split())  # same words, bound otherwise
    assert unswappable < 10


def test_no_swap_when_every_exchange_is_held_out():
    rng = np.random.default_rng(1)
    scene = sample_scene(rng, 2)
    a, b = scene.objects
    differing = [n for n in ATTRIBUTES if getattr(a, n) != getattr(b, n)]
    everything = Holdout.parse([f"{n}={getattr(o, n)}" for n in differing for o in (a, b)])
    assert swap_binding(scene, rng, everything) is None


def pairs(count=4):
    video = torch.randn(count, 8, 2, 8, 8)  # (B, C, T, h, w)
    video[:, :, :, 2:4, 2:4] += 5.0  # an object's cells in every clip
    text = torch.zeros(2 * count, 3, 16)
    text[count:] = 1.0  # the swapped captions' tokens
    return {"video": video, "audio": torch.randn(count, 4, 16),
            "text": (text, torch.ones(2 * count, 3, dtype=torch.bool), torch.zeros(2 * count, 16),
                     torch.zeros(2 * count, 3, dtype=torch.long))}


def reader(favoured: float):
    """A stand-in denoiser whose prediction is exact-ish for the captions whose tokens are `favoured`
    and far off for the others."""
    def model(noisy, timesteps, tokens, mask, pooled, audio_latents, **kwargs):
        far = (tokens[:, 0, 0] != favoured).float().view(-1, 1, 1, 1, 1)
        return JointTransformerOutput(video=far * 10 * noisy, audio=far[:, :, 0, 0] * 10 * audio_latents)
    return model


@pytest.mark.parametrize("favoured, wins", [(0.0, 1.0), (1.0, 0.0)])
def test_the_loss_rewards_the_written_caption_and_splits_across_processes(favoured, wins):
    scheduler, data = FlowMatchEulerDiscreteScheduler(), pairs()

    def run(start, size):
        batch = Batch(0, 0, torch.Generator().manual_seed(3), 8, start, size)  # global batch 8, 4 pairs
        return binding_loss(reader(favoured), scheduler, data, batch, temperature=0.1)

    loss, anchor, won = run(0, 8)
    assert won == wins
    assert (loss < np.log(2)) == (wins == 1.0)
    halves = [run(0, 4), run(4, 4)]
    assert torch.allclose((halves[0][0] + halves[1][0]) / 2, loss)
    assert torch.allclose((halves[0][1] + halves[1][1]) / 2, anchor)


def test_the_anchor_is_the_written_captions_own_denoising_loss():
    """It scores the predictions under the written captions only: far lower when those are the
    close ones."""
    scheduler, data = FlowMatchEulerDiscreteScheduler(), pairs()
    anchors = [binding_loss(reader(favoured), scheduler, data, Batch(0, 0, torch.Generator().manual_seed(3), 8, 0, 8),
                            temperature=0.1)[1] for favoured in (0.0, 1.0)]
    assert anchors[0] * 10 < anchors[1]
