"""Text-to-video object by object: prompts split into one per object, and the streams' main
objects laid out in one clip over the background."""

import numpy as np
import pytest
import torch

from models.pipelines.object_composition import FOREGROUND_DISTANCE, lay_out, layout, object_clauses, split_image


@pytest.mark.parametrize("prompt, clauses", [
    ("a small red circle moving left and a large blue square moving up on a navy background",
     ["a small red circle moving left on a navy background", "a large blue square moving up on a navy background"]),
    ("something moving up and a small shape on a beige background",
     ["something moving up on a beige background", "a small shape on a beige background"]),
    ("a cat, a dog and a bird on the beach.", ["a cat on the beach", "a dog on the beach", "a bird on the beach"]),
    ("a red circle moving left.", ["a red circle moving left."]),  # one object: the prompt as written
    ("two red circles", []),  # not single objects: sampled whole
    ("a black and white cat", []),
    ("sunset over the sea", []),
    ("a, b, c, d and e", []),  # more objects than a request samples in streams
])
def test_prompts_split_into_one_per_object(prompt, clauses):
    assert object_clauses(prompt) == clauses


def test_layout_keeps_each_streams_main_object_and_paints_over_copies():
    back = -0.5
    streams = torch.full((2, 4, 2, 8, 8), back)  # (k * N, C, T, h, w): two objects, one candidate
    streams[0, :, :, 2:4, 1:3] += FOREGROUND_DISTANCE  # stream 0's object (distance 4 per cell)
    streams[0, :, :, 6, 6] += FOREGROUND_DISTANCE  # and a one-cell copy of it, lighter
    streams[1, :, :, 5:7, 3:5] -= FOREGROUND_DISTANCE  # stream 1's object
    streams[1, :, :, 0, 0] += 0.3  # a little off the background, under the threshold
    index = layout(streams, 2)
    assert index.shape == (1, 1, 2, 8, 8)
    composed = lay_out(streams, index)[0]
    assert torch.equal(composed[:, :, 2:4, 1:3], streams[0, :, :, 2:4, 1:3])
    assert torch.equal(composed[:, :, 5:7, 3:5], streams[1, :, :, 5:7, 3:5])
    assert (composed[:, :, 6, 6] == back).all()  # the copy: the other stream's background
    assert (composed[:, :, 0, 0] == back).all()  # the calmest stream's cell


def test_one_stream_keeps_its_main_object_over_its_own_background():
    stream = torch.full((1, 4, 2, 8, 8), 0.2)
    stream[0, :, :, 1:3, 1:3] += FOREGROUND_DISTANCE
    stream[0, :, :, 6, 6] += FOREGROUND_DISTANCE  # a copy
    composed = lay_out(stream, layout(stream, 1))[0]
    assert torch.equal(composed[:, :, 1:3, 1:3], stream[0, :, :, 1:3, 1:3])
    assert torch.allclose(composed[:, :, 6, 6], torch.tensor(0.2))


def test_a_first_frame_splits_into_one_image_per_object():
    navy = np.array([20, 30, 90], np.uint8)
    image = np.tile(navy, (32, 32, 1))
    image[4:10, 4:10] = (230, 40, 40)  # a red square
    image[20:26, 18:24] = (40, 200, 60)  # a green one
    image[30, 30] = (235, 235, 235)  # a speck, below the smallest object
    red, green = split_image(image, 2)
    assert (red[4:10, 4:10] == (230, 40, 40)).all() and (red[20:26, 18:24] == navy).all()
    assert (green[20:26, 18:24] == (40, 200, 60)).all() and (green[4:10, 4:10] == navy).all()
    assert split_image(image, 3) is None and split_image(np.tile(navy, (32, 32, 1)), 1) is None
