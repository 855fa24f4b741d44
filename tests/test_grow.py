"""Growing a trained transformer deeper: same outputs, then trainable; what it refuses."""

import pytest
import torch

from tests.test_transformer import inputs, randomise, tiny
from training.grow import grow


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
