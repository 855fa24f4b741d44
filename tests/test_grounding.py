"""Grounding object words in cross-attention: which tokens name which object, where each
object is on the latent grid, the loss on attention maps, and the maps the transformer returns."""

import numpy as np
import pytest
import torch

from models.text_encoder import TextEncoder, default_text_encoder_path
from studio.world.scene import Scene, WorldObject
from tests.test_transformer import inputs, randomise, tiny
from training.grounding import grounding_loss, object_masks, word_objects


@pytest.fixture(scope="module")
def tokenizer():
    return TextEncoder.from_pretrained(str(default_text_encoder_path())).tokenizer


def test_attribute_words_point_at_their_object_in_caption_order(tokenizer):
    text = "a small red circle moving up and a large blue square staying still on a navy background"
    objects = word_objects(text, tokenizer, 32)
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])
    named = {token: int(k) for token, k in zip(tokens, objects) if k >= 0}
    assert named == {"small": 0, "red": 0, "circle": 0, "up": 0, "large": 1, "blue": 1, "square": 1, "still": 1}
    assert objects[len(tokens):].tolist() == [-1] * (32 - len(tokens))  # padding
    partial = word_objects("a red shape and something moving left", tokenizer, 32)
    assert sorted(partial[partial >= 0].tolist()) == [0, 1]  # "red" and "left"


def test_object_boxes_cover_the_latent_grid_where_the_object_is():
    small_still = WorldObject("circle", "red", "small", "still", 16.0, 16.0)  # 12 px box at (10..22)
    large_moving = WorldObject("square", "blue", "large", "right", 30.0, 40.0)  # stays in frame
    masks = object_masks(Scene("navy", (small_still, large_moving)), latent_frames=8, latent_size=8)
    assert masks.shape == (2, 8, 8, 8)
    cell = 64 / 8
    np.testing.assert_allclose(masks[0].sum((1, 2)), (12 / cell) ** 2, rtol=1e-5)  # area in cells
    np.testing.assert_allclose(masks[1].sum((1, 2)), (20 / cell) ** 2, rtol=1e-5)
    assert masks[0, 0, 1, 1] == pytest.approx((6 / 8) ** 2) and masks[0, 0, 5, 5] == 0  # box 10..22, cell 8..16
    moved = masks[1].argmax(-1).max(-1)  # rightmost column the square fills most, per latent frame
    assert moved[-1] > moved[0]
    alone = object_masks(Scene("navy", (small_still,)), 8, 8)
    assert not alone[1].any()


def test_the_loss_is_zero_on_grounded_maps_and_ignores_objects_it_cannot_place():
    masks = torch.zeros(1, 2, 1, 4, 4)
    masks[0, 0, 0, :2, :2] = 1  # object 0 fills the top-left token of a 2 x 2 token grid
    masks[0, 1, 0, 2:, 2:] = 1
    words = torch.tensor([[-1, 0, 1, -1]])
    grounded = torch.zeros(1, 3, 4, 6)  # (B, depth, Nv, L + task tokens)
    grounded[0, :, 0, 1] = 1.0  # word 1 attends only from object 0's token
    grounded[0, :, 3, 2] = 1.0
    assert grounding_loss(grounded, words, masks, (1, 2, 2)).item() == 0.0
    uniform = torch.ones(1, 3, 4, 6)
    assert grounding_loss(uniform, words, masks, (1, 2, 2)).item() == pytest.approx((1 - 1 / 4) ** 2)
    outside = torch.zeros(1, 2, 1, 4, 4)  # a clip outside the world: no boxes
    assert grounding_loss(uniform, words, outside, (1, 2, 2)).item() == 0.0


def test_the_transformer_returns_its_cross_attention_and_the_loss_trains_it():
    model = randomise(tiny())
    x = inputs(batch=2, frames=2, size=4, audio=8, text=5)
    plain = model(**x)
    out = model(**x, return_cross_attention=True)
    torch.testing.assert_close(out.video, plain.video, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out.audio, plain.audio, atol=1e-5, rtol=1e-4)
    num_video, context = 2 * 2 * 2, 5 + model.config.num_task_tokens
    assert out.cross_attention.shape == (2, model.config.depth, num_video, context)
    torch.testing.assert_close(out.cross_attention.sum(-1), torch.ones(2, model.config.depth, num_video))
    masks = torch.zeros(2, 2, 2, 4, 4)
    masks[:, 0, :, :2, :2] = 1
    loss = grounding_loss(out.cross_attention, torch.tensor([[0, 0, -1, -1, -1]] * 2), masks, (1, 2, 2))
    loss.backward()
    assert loss.item() > 0 and model.blocks[0].cross_attn.to_q.weight.grad.abs().sum() > 0
