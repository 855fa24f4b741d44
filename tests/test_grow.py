"""Growing a trained transformer deeper: same outputs, then trainable; what it refuses."""

import pytest
import torch

from tests.test_transformer import inputs, randomise, tiny
from training.grow import grow, with_objects


@pytest.mark.parametrize("depth", [2, 3, 4, 5])
def test_a_grown_model_computes_what_it_grew_from(depth):
    model = randomise(tiny())
    grown = grow(model, depth).eval()
    assert len(grown.blocks) == depth
    with torch.no_grad():
        a, b = model(**inputs()), grown(**inputs())
    assert torch.allclose(a.video, b.video, atol=1e-6) and torch.allclose(a.audio, b.audio, atol=1e-6)


def test_the_new_blocks_train():
    """The copies' gates are shut but their branches are not zero, so every gate gets a gradient."""
    grown = grow(randomise(tiny()), 4)
    out = grown(**inputs())
    (out.video.square().mean() + out.audio.square().mean()).backward()
    for block in grown.blocks:
        assert block.ada_ln[1].weight.grad.abs().sum() > 0


def test_growing_shallower_is_refused():
    with pytest.raises(ValueError, match="cannot grow"):
        grow(tiny(depth=3), 2)


def test_adding_object_attention_changes_nothing_until_trained():
    model = randomise(tiny())
    placed = with_objects(model, 2, 2).eval()
    assert placed.config.object_slots == 2 and placed.config.phrase_length == 2
    args = {**inputs(), "object_positions": torch.rand(2, 2, 3)}
    with torch.no_grad():
        assert torch.equal(model(**inputs()).video, placed(**args).video)
    out = placed(**args)
    (out.video.square().mean() + out.audio.square().mean()).backward()
    assert all(block.object_attn.to_out.weight.grad.abs().sum() > 0 for block in placed.blocks)
