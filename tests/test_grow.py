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


def test_clause_tokens_keep_every_weight_and_start_at_zero():
    from training.grow import add_clause_tokens

    model = randomise(tiny())
    extended = add_clause_tokens(model, 3)
    assert extended.config.clause_tokens == 3 and torch.equal(extended.clause_embed, torch.zeros(3, 32))
    kept = extended.state_dict()
    assert all(torch.equal(v, kept[k]) for k, v in model.state_dict().items())
    assert add_clause_tokens(extended, 3) is extended
    with pytest.raises(ValueError, match="reads 3 clause tokens"):
        add_clause_tokens(extended, 2)
