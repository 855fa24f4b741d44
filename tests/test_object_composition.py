"""Object by object: prompts split into one per object, the streams' main objects composed in
one clip over one background, and images and videos split into their objects."""

import numpy as np
import pytest
import torch

from models.pipelines.object_composition import (CLEARANCE_PX, WORST_SEMITONES, clear_offset, composed, drawn_size,
                                                  extent, heard_share, laid_over, levelled, moves_as,
                                                  object_clauses, outline_similarity, painted, pitch_ratio,
                                                  recoloured, removed, reshaped, resized, shape_of, split_image,
                                                  split_objects, tone_error, tone_errors, without_place)


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


def test_streams_compose_their_main_objects_over_one_background_clear_of_each_other():
    """Each stream's main object is laid over the first stream's background, not its copies;
    one that lands on an earlier one is moved sideways clear of it, unless an image placed
    them; a stream that shows no object adds none."""
    navy = np.array([20, 30, 90], np.uint8)
    streams = np.tile(navy, (3, 4, 32, 32, 1))  # (k, T, H, W, 3)
    streams[0, :, 8:16, 8:16] = (230, 40, 40)  # stream 0's red square
    streams[0, :, 26:28, 26:28] = (120, 40, 40)  # and a fainter copy
    streams[1, :, 10:16, 12:18] = (40, 200, 60)  # stream 1's green square, on the red one
    clip, rows_down = composed(streams, clear=True)
    assert clip.shape == (4, 32, 32, 3) and rows_down == [0, 0, 0]  # moved sideways: its height kept
    assert (clip[:, 8:16, 8:16] == (230, 40, 40)).all() and (clip[:, 26:28, 26:28] == navy).all()
    green = np.all(clip == (40, 200, 60), axis=-1)
    rows, cols = np.nonzero(green[0])
    assert green.sum() == 4 * 36 and (rows.min(), rows.max()) == (10, 15) and cols.min() >= 16 + CLEARANCE_PX
    beige = composed(streams, clear=True, background=np.array([225.0, 210, 170]))[0]
    assert (beige[:, 26:28, 26:28] == (225, 210, 170)).all() and (beige[:, 8:16, 8:16] == (230, 40, 40)).all()
    assert without_place("a white circle moving up on a beige background") == "a white circle moving up"
    assert without_place("a white circle") == "a white circle"
    placed = composed(streams, clear=False)[0]
    assert (placed[:, 10:16, 12:18] == (40, 200, 60)).all() and (placed[:, 8:10, 8:16] == (230, 40, 40)).all()


@pytest.mark.parametrize("phrase, drawn", [
    ("a small red square moving up on a navy background",
     ("a large red square moving up on a navy background", 12 / 64)),
    ("a large red square", ("a large red square", None)),
    ("a red square", ("a red square", None)),
    ("a smaller square", ("a smaller square", None)),
    ("A Small square", ("A large square", 12 / 64)),
])
def test_a_small_object_is_drawn_large(phrase, drawn):
    assert drawn_size(phrase) == drawn


def test_an_object_drawn_large_is_laid_out_at_the_size_asked_on_its_own_path():
    """Scaled about its centre in each frame to the extent asked (a share of the frame side),
    so it keeps the path and the colour it was drawn with."""
    navy = np.array([20, 30, 90], np.uint8)
    streams = np.tile(navy, (1, 4, 64, 64, 1))
    for t in range(4):
        streams[0, t, 10:30, 10 + 2 * t:30 + 2 * t] = (240, 220, 40)  # a 20-pixel square moving right
    clip, _ = composed(streams, clear=True, extents=[12 / 64])
    share = np.linalg.norm(clip.astype(np.float32) - navy, axis=-1) / np.linalg.norm(np.subtract((240, 220, 40), navy))
    assert [extent(share[t]) for t in range(4)] == [12] * 4
    for t in range(4):
        rows, cols = np.nonzero(share[t] > 0.5)
        assert np.allclose([rows.mean(), cols.mean()], [19.5, 19.5 + 2 * t], atol=0.5)
    assert np.isclose(share.max(), 1, atol=0.02)  # the drawn colour, its middle untouched
    assert np.array_equal(composed(streams, clear=True, extents=[None])[0], composed(streams, clear=True)[0])
    faint = np.zeros((4, 64, 64), np.float32)
    faint[:, 10:30, 10:30] = 0.4  # no pixel over half covered: no extent to scale from
    assert np.array_equal(resized(faint, 12 / 64), faint)


def test_a_tone_is_heard_at_its_objects_height_by_its_strongest_partial():
    """Frame by frame, the strongest partial against the world's pitch for the middle of the
    object's box: a sine or a square wave at it is heard there, a tone two semitones off is not,
    silence counts as the worst miss; a clip showing no object has nothing to be heard against."""
    navy = np.array([20, 30, 90], np.uint8)
    frames = np.tile(navy, (4, 64, 64, 1))
    frames[:, 20:32, 10:22] = (240, 220, 40)  # its box's middle 26 rows down
    time = np.arange(8000) / 16_000
    pitch = 220 * 4 ** (1 - 26 / 64)
    sine, square = np.sin(2 * np.pi * pitch * time), np.sign(np.sin(2 * np.pi * pitch * time))
    for tone in (sine, square):
        errors = tone_errors(0.3 * tone, frames, 16_000)
        assert errors.shape == (4,) and errors.max() < 0.1 and heard_share(errors) == 1
    off = tone_errors(0.3 * np.sin(2 * np.pi * pitch * 2 ** (2 / 12) * time), frames, 16_000)
    assert np.allclose(off, 2, atol=0.1) and heard_share(off) == 0 and tone_error(off) == pytest.approx(2, abs=0.1)
    silent = tone_errors(np.zeros(8000), frames, 16_000)
    assert np.array_equal(silent, [WORST_SEMITONES] * 4) and heard_share(silent) == 0
    far = tone_errors(0.3 * np.sin(2 * np.pi * pitch * 2 ** (7 / 12) * time), frames, 16_000)
    assert np.array_equal(far, [WORST_SEMITONES] * 4)
    triangle = np.tile(navy, (4, 64, 64, 1))
    for row in range(20, 32):  # apex up: its centre of mass lies low in its box
        half = (row - 19) // 2
        triangle[:, row, 16 - half:16 + half + 1] = (240, 220, 40)
    assert heard_share(tone_errors(0.3 * sine, triangle, 16_000)) == 1
    nothing = tone_errors(np.zeros(8000), np.tile(navy, (4, 64, 64, 1)), 16_000)
    assert len(nothing) == 0 and heard_share(nothing) == 1 and tone_error(nothing) == 0


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


def test_a_video_splits_into_its_objects_connected_over_time():
    navy = np.array([20, 30, 90], np.uint8)
    frames = np.tile(navy, (8, 32, 32, 1))
    for t in range(8):
        frames[t, 4:10, 2 + t:8 + t] = (230, 40, 40)  # a red square moving right
        frames[t, 20 - t:26 - t, 22:28] = (40, 200, 60)  # a green one moving up
    (red, red_mask), (green, green_mask) = split_objects(frames)
    assert (red[0, 4:10, 2:8] == (230, 40, 40)).all() and (red == navy).all(-1).sum() == 8 * (32 * 32 - 36)
    assert (green[7, 13:19, 22:28] == (40, 200, 60)).all() and (green[:, 4:10] == navy).all()
    assert red_mask[3, 4:10, 4:12].all() and red_mask[3, 3:11, 5:11].all() and red_mask[3].sum() == 36 + 24
    assert not green_mask[:, :10].any() and green_mask[0, 20:26, 22:28].all()
    frames[4, 10:16, 10:24] = (230, 40, 40)  # a red bridge joins them in one frame: still two colours
    (red, red_mask), (green, green_mask) = sorted(split_objects(frames), key=lambda o: not o[1][4, 12, 12])
    assert red_mask[4, 10:16, 10:22].all() and not red_mask[4, 17:22, 22:28].any()
    assert (red[4, 17:22, 22:28] == navy).all() and (green[4, 10:16, 10:22] == navy).all()
    for t in range(8):
        frames[t, 20 - t:26 - t, 22:28] = (230, 40, 40)  # the green square is red now: bridged, one object
    assert len(split_objects(frames)) == 1


def test_touching_objects_split_by_colour_with_noise_and_soft_edges():
    rng = np.random.default_rng(0)
    frames = np.tile(np.array([120, 120, 120], np.float32), (8, 40, 40, 1))
    for t in range(8):
        frames[t, 10:22, 4 + t:16 + t] = (220, 40, 40)  # a red square moving right...
        frames[t, 10:22, 18:30] = (240, 220, 40)  # ...into a still yellow one, which it touches from frame 2
        frames[t, 9, 4 + t:16 + t] = frames[t, 22, 4 + t:16 + t] = (170, 80, 80)  # edge rows blended with gray
    frames = np.clip(frames + rng.normal(0, 8, frames.shape), 0, 255).astype(np.uint8)
    (red, red_mask), (yellow, yellow_mask) = sorted(split_objects(frames), key=lambda o: not o[1][7, 15, 12])
    assert red_mask[7, 10:22, 11:17].all() and not red_mask[7, 10:22, 20:30].any()
    assert yellow_mask[7, 10:22, 19:30].all() and not yellow_mask[7, 10:22, 4:17].any()
    assert np.abs(red[7, 12:20, 20:28].astype(int) - 120).max() < 40  # yellow painted over with the background
    assert split_objects(rng.integers(0, 256, frames.shape, dtype=np.uint8)) == []  # no flat background


def test_a_recoloured_object_keeps_the_sources_outline_and_nothing_else_changes():
    gray, red, green, blue = (np.array(c, np.float32) for c in ((120, 120, 120), (220, 40, 40), (40, 180, 70),
                                                                 (40, 70, 220)))
    source = np.tile(gray, (4, 32, 32, 1))
    source[:, 4:12, 4:12] = red
    source[:, 12, 4:12] = (red + gray) / 2  # an anti-aliased edge row, half covered
    source[:, 20:28, 18:26] = green
    source = source.astype(np.uint8)
    edited = source.astype(np.float32) + 6  # the decoder's drift everywhere
    edited[:, 3:14, 3:13] = blue - 10  # the red square turned blue, its edge blurred one pixel out
    edited[:, 24:30, 2:8] = (255, 0, 255)  # a stray blob where the source has none
    out = recoloured(source, np.clip(edited, 0, 255).astype(np.uint8), [mask for _, mask in split_objects(source)],
                     frozenset({"objects"}))
    shift = blue - 10 - red
    assert np.abs(out[:, 4:12, 4:12] - (blue - 10)).max() <= 1
    assert np.abs(out[:, 12, 4:12] - (red + gray) / 2 - shift / 2).max() <= 2  # the edge row: half the change
    assert (out[:, 13] == source[:, 13]).all() and (out[:, :, 12:] == source[:, :, 12:]).all()  # green as it was
    assert (out[:, 24:30, 2:8] == source[:, 24:30, 2:8]).all()  # no stray blob


def test_a_new_background_goes_behind_the_sources_own_outlines():
    gray, red, navy = (np.array(c, np.float32) for c in ((120, 120, 120), (220, 40, 40), (25, 35, 90)))
    source = np.tile(gray, (4, 32, 32, 1))
    source[:, 4:12, 4:12] = red
    source[:, 12, 4:12] = (red + gray) / 2  # an anti-aliased edge row, half covered
    source = source.astype(np.uint8)
    edited = np.tile(navy + 5, (4, 32, 32, 1))  # the new background, a little off
    edited[:, 3:13, 3:13] = red - 15  # the object redrawn, blurred and a little darker
    masks = [mask for _, mask in split_objects(source)]
    out = recoloured(source, edited.astype(np.uint8), masks, frozenset({"background"}))
    assert (out[:, 4:12, 4:12] == source[:, 4:12, 4:12]).all()  # the object as it was
    assert np.abs(out[:, 20:, :] - (navy + 5)).max() <= 1 and np.abs(out[:, :, 20:] - (navy + 5)).max() <= 1
    assert np.abs(out[:, 12, 4:12] - (red + navy + 5) / 2).max() <= 2  # the edge row: half the change
    assert np.array_equal(recoloured(source, edited.astype(np.uint8), masks, frozenset({"objects"})),
                          source)  # objects: no change


def test_a_grayscale_edit_recolours_objects_and_background_on_the_sources_outlines():
    """Style changes every colour, each by however little: objects and background both take
    the edit's, and a pixel half covered by an object ends halfway between the new two."""
    beige, yellow = (np.array(c, np.float32) for c in ((225, 210, 170), (240, 220, 40)))
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    source = np.tile(beige, (4, 32, 32, 1))
    source[:, 4:12, 4:12] = yellow
    source[:, 12, 4:12] = (yellow + beige) / 2  # an anti-aliased edge row, half covered
    source = source.astype(np.uint8)
    edited = np.repeat((source.astype(np.float32) @ luma)[..., None], 3, -1)
    edited[:, 3:14, 3:13] = 200  # the object's gray, its edge blurred one pixel out
    masks = [mask for _, mask in split_objects(source)]
    out = recoloured(source, edited.astype(np.uint8), masks, frozenset({"objects", "background"}), min_change=0)
    back = np.round(beige @ luma)
    assert (out[:, 4:12, 4:12] == 200).all() and np.abs(out[:, 20:] - back).max() <= 1
    assert np.abs(out[:, 12, 4:12] - (200 + back) / 2).max() <= 1
    drift = (source.astype(np.float32) + 20).clip(0, 255).astype(np.uint8)  # every colour moved 35 or less
    assert np.array_equal(recoloured(source, drift, masks, frozenset({"objects", "background"})), source)
    assert not np.array_equal(recoloured(source, drift, masks, frozenset({"objects", "background"}), 0), source)


def test_a_remove_edit_lays_back_the_objects_it_did_not_remove_or_erases_the_named_one():
    """Remove: where the edit shows exactly one object gone (its interior the background's
    colour, give or take the decoder's drift), the others are laid back from the source;
    where it shows both gone, all but the named one; where none, the source with the named
    object erased to the background."""
    gray = np.array((120, 120, 120), np.float32)
    source = np.tile(gray, (4, 32, 32, 1))
    source[:, 4:12, 4:12], source[:, 20:28, 18:26] = (220, 40, 40), (40, 180, 70)
    source = source.astype(np.uint8)
    masks = [mask for _, mask in split_objects(source)]
    red = next(i for i, mask in enumerate(masks) if mask[0, 8, 8])
    green = next(i for i, mask in enumerate(masks) if mask[0, 24, 22])
    edited = source.copy()
    edited[:, 4:12, 4:12] = gray + 12  # the red square removed, the background a little off
    laid_back = np.where(masks[green][..., None], source, edited)
    assert np.array_equal(removed(source, edited, masks, green), laid_back)  # the edit says which
    edited[:, 20:28, 18:26] = gray - 12  # both removed: the named one is
    assert np.array_equal(removed(source, edited, masks, green), np.where(masks[red][..., None], source, edited))
    out = removed(source, source, masks, red)  # none removed: the named one erased
    assert (out[:, 4:12, 4:12] == 120).all() and np.array_equal(out[:, 16:], source[:, 16:])


def test_the_shortest_shift_clear_of_the_others_inside_the_frame():
    mask, occupied = np.zeros((3, 16, 16), bool), np.zeros((3, 16, 16), bool)
    mask[:, 6:10, 6:10] = True
    assert clear_offset(mask, occupied) == (0, 0)  # nothing in the way
    occupied[:, 4:12, 4:9] = True
    assert clear_offset(mask, occupied) == (0, 3)  # right of the block: its last column is 8
    occupied[:, :, 9:] = True  # everything right of column 8 taken too: left of the block
    assert clear_offset(mask, occupied) == (0, -6)
    assert clear_offset(mask, np.ones_like(occupied)) == (0, 0)  # nowhere clear: left where it is
    occupied[:] = False
    occupied[:, 6:10, 4:11] = True  # up or down 4 would clear it, but sideways 5 keeps its height
    assert clear_offset(mask, occupied) == (0, 5)
    moving = np.zeros((3, 16, 16), bool)
    for t in range(3):
        moving[t, 2:6, 2 + 4 * t:6 + 4 * t] = True  # sweeps right to column 13
    blocked = np.zeros_like(moving)
    blocked[2, 2:6, 10:14] = True  # only its last frame is in the way
    dy, dx = clear_offset(moving, blocked)
    assert (dy, dx) == (4, 0) and not (np.roll(moving, (dy, dx), axis=(1, 2)) & blocked).any()


def test_an_added_object_is_laid_clear_of_the_sources_own_with_its_purest_colour():
    """The generated clip's main object (not a stray speck) is moved the shortest way clear of
    the source's objects and laid over the source's background, which elsewhere stays exact;
    its colour is its purest pixels', where a blurred small object's middle is dimmer."""
    navy, black = np.array((20, 30, 90), np.float32), np.array((10, 10, 10), np.float32)
    source = np.tile(navy, (4, 32, 32, 1))
    source[:, 10:20, 4:14] = (220, 40, 40)  # the source's red square
    source = source.astype(np.uint8)
    made = np.tile(black, (4, 32, 32, 1))
    made[:, 11:19, 8:16] = (180, 170, 30)
    made[:, 13:17, 10:14] = (240, 220, 40)  # the yellow object, dimmer at its rim
    made[:, 28:30, 28:30] = (60, 60, 200)  # a faint stray speck
    made = made.astype(np.uint8)
    out, rows_down = laid_over(source, made)
    assert rows_down == 0
    yellow = np.linalg.norm(out.astype(np.float32) - (240, 220, 40), axis=-1) < 10
    rows, cols = np.nonzero(yellow[0])
    assert cols.min() >= 14 + 2 and rows.min() == 13  # moved right, clear of the red square by 2 pixels
    changed = np.any(out != source, axis=-1)
    assert changed.sum() == 4 * 8 * 8  # the object's pixels alone: no speck, nothing else
    assert np.array_equal(out[:, 10:20, 4:14], source[:, 10:20, 4:14])
    assert laid_over(source, np.tile(black, (4, 32, 32, 1)).astype(np.uint8)) is None  # no object drawn


def test_an_object_laid_lower_or_higher_sounds_lower_or_higher():
    """Where no place sideways is free, an object is moved up or down, and the rows it moved say
    how far its tone's pitch moves: two octaves over the frame's height, as the world's tones."""
    navy = np.array((20, 30, 90), np.uint8)
    source = np.tile(navy, (4, 32, 32, 1))
    source[:, 12:20] = (220, 40, 40)  # a red band across the frame: only above or below is free
    made = np.tile(navy, (4, 32, 32, 1))
    made[:, 14:18, 10:14] = (240, 220, 40)
    out, rows_down = laid_over(source, made)
    assert rows_down in (-9, 9) and (out[:, 12:20] == (220, 40, 40)).all()  # its edge clear of the band by 2
    assert pitch_ratio(-16, 64) == 2 ** 0.5 and pitch_ratio(32, 64) == 0.5 and pitch_ratio(0, 64) == 1


def test_streams_sound_at_one_loudness_within_full_scale():
    """Each candidate's streams are brought to the mean RMS of those that sound, a silent one
    left as it is, then scaled together only where their sum would pass full scale."""
    t = np.arange(16_000) / 16_000
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)  # RMS 1 / sqrt(2)
    quiet, loud, silent = 0.02 * tone, 0.4 * tone, 0.001 * tone
    # object-major rows: candidate 0's streams are rows 0 and 2 (quiet, loud), candidate 1's 1 and 3 (loud, silent)
    out = levelled(np.stack([quiet, loud, loud, silent]), 2)
    rms = np.sqrt(np.mean(out.astype(np.float64) ** 2, axis=1))
    assert out.dtype == np.float32 and np.allclose(rms[[0, 2]], 0.21 / np.sqrt(2), rtol=1e-4)
    assert np.allclose(out[1], loud) and np.array_equal(out[3], silent)
    too_loud = levelled(np.stack([0.9 * tone, 0.7 * tone]), 2)
    assert np.isclose(np.abs(too_loud.sum(0)).max(), 1.0, atol=1e-4) and np.allclose(too_loud[0], too_loud[1])
    assert np.array_equal(levelled(np.stack([quiet, loud]), 1), np.stack([quiet, loud]))  # one object each


def test_a_painted_object_keeps_its_outline_and_edge_in_the_drawn_colour():
    """The named object takes the drawn object's purest colour, each pixel by the share of it
    the object covers (an anti-aliased edge pixel half the way there); the rest stays exact."""
    navy = np.array((20, 30, 90), np.float32)
    source = np.tile(navy, (4, 32, 32, 1))
    source[:, 8:16, 8:16] = (220, 40, 40)
    source[:, 8:16, 16] = (navy + (220, 40, 40)) / 2  # an edge pixel half covered
    source[:, 24:28, 24:28] = (40, 200, 60)
    source = source.astype(np.uint8)
    red = next(mask for _, mask in split_objects(source) if mask[0, 10, 10])
    made = np.zeros((4, 32, 32, 3), np.uint8)
    made[:, 4:20, 4:20] = (34, 64, 196)
    made[:, 8:16, 8:16] = (40, 70, 220)  # purest in the middle
    out = painted(source, red, made)
    assert (out[:, 8:16, 8:16] == (40, 70, 220)).all()
    assert np.abs(out[:, 8:16, 16].astype(np.float32) - (navy + (40, 70, 220)) / 2).max() <= 1
    changed = np.any(out != source, axis=-1)
    assert changed.sum() == 4 * 8 * 9 and np.array_equal(out[:, 24:28, 24:28], source[:, 24:28, 24:28])
    assert painted(source, red, np.zeros_like(made)) is None


def test_outlines_compare_in_shape_alone():
    """Outline likeness ignores where an object is and how large: a square is more like a
    larger square elsewhere than like a disc or a triangle of its size; the main drawn object's
    outline is read without its specks."""
    yy, xx = np.mgrid[:48, :48]
    square, large, disc, triangle = (np.zeros((48, 48), np.float32) for _ in range(4))
    square[4:14, 4:14] = 1
    large[20:44, 18:42] = 1
    disc[(yy - 30) ** 2 + (xx - 12) ** 2 <= 25] = 1
    triangle[(yy >= 30) & (yy < 40) & (np.abs(xx - 35) <= (yy - 30) / 2)] = 1
    same = outline_similarity(square, large)
    assert same > 0.85 and outline_similarity(square, disc) < same - 0.15
    assert outline_similarity(square, triangle) < outline_similarity(square, disc)
    assert outline_similarity(disc, disc) == pytest.approx(1.0)
    frames = np.zeros((4, 48, 48, 3), np.uint8)
    frames[:, large > 0] = (240, 220, 40)
    frames[:, 2:4, 2:4] = (60, 60, 200)  # a speck
    assert outline_similarity(shape_of(frames), large) > 0.95 and shape_of(np.zeros_like(frames)) is None


def test_a_drawn_object_moves_as_asked_by_its_centre_from_first_to_last_frame():
    """Still: its centre moves under a sixteenth of the frame side; a direction: at least that
    far along it and twice as far as across it; no object drawn moves as nothing asks."""
    frames = np.zeros((16, 64, 64, 3), np.uint8)
    for t in range(16):
        frames[t, 40 - t:50 - t, 10 + t // 4:20 + t // 4] = (240, 220, 40)  # up 15 px, right 3
    assert moves_as(frames, (-1, 0))
    assert not any(moves_as(frames, d) for d in ((1, 0), (0, 1), (0, -1), (0, 0)))
    still = np.repeat(frames[:1], 16, axis=0)
    assert moves_as(still, (0, 0)) and not moves_as(still, (-1, 0))
    assert not moves_as(np.zeros_like(frames), (0, 0))


def test_a_reshaped_object_keeps_its_colour_size_and_path_in_the_drawn_shape():
    """The drawn object's outline (a large dim disc here) is scaled to the named object's
    extent and drawn at its centre in each frame, in its colour; the object's old pixels are
    the background's, the other object and the rest stay exact."""
    navy = np.array((20, 30, 90), np.float32)
    source = np.tile(navy, (4, 40, 40, 1))
    for t in range(4):
        source[t, 6:16, 4 + 2 * t:14 + 2 * t] = (220, 40, 40)  # a 10-px red square moving right
    source[:, 28:34, 28:34] = (40, 200, 60)
    source = source.astype(np.uint8)
    red = next(mask for _, mask in split_objects(source) if mask[0, 10, 8])
    yy, xx = np.mgrid[:40, :40]
    made = np.zeros((4, 40, 40, 3), np.uint8)
    made[:, (yy - 20) ** 2 + (xx - 18) ** 2 <= 81] = (150, 140, 20)  # a disc 19 px across
    out = reshaped(source, red, made)
    for t in range(4):
        is_red = np.linalg.norm(out[t].astype(np.float32) - (220, 40, 40), axis=-1) < 60
        rows, cols = np.nonzero(is_red)
        assert abs(rows.mean() - 10.5) < 0.3 and abs(cols.mean() - (8.5 + 2 * t)) < 0.3  # the square's centre
        assert 9 <= np.ptp(rows) + 1 <= 11 and 9 <= np.ptp(cols) + 1 <= 11  # its size
        assert not is_red[6, 4 + 2 * t] and not is_red[15, 13 + 2 * t]  # the corners: round now
        assert np.abs(out[t, 6, 4 + 2 * t].astype(np.float32) - navy).max() <= 2
    assert np.array_equal(out[:, 26:36, 26:36], source[:, 26:36, 26:36])
    assert np.array_equal(out[:, 20:26], source[:, 20:26])
    assert reshaped(source, red, np.zeros_like(made)) is None
