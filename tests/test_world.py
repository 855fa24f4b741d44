"""The Shapes World renderer, captions and edits against the spec, in numbers."""

import re

import numpy as np
import pytest

from studio.world import spec
from studio.world.captions import caption, parse_caption, partial_caption
from studio.world.edits import WORDINGS, grayscale, image_triplet, render_edit, sample_edit
from studio.world.render import render_audio, render_clip, render_frames
from studio.world.scene import DEFAULT_HOLDOUT, Holdout, Scene, WorldObject, boxes_overlap, sample_scene


def one(shape="square", colour="red", size="large", motion="right", x0=20.0, y0=30.0, background="navy"):
    return Scene(background, (WorldObject(shape, colour, size, motion, x0, y0),))


def object_mask(frame, background):
    return np.abs(frame.astype(int) - np.array(spec.BACKGROUNDS[background])).sum(-1) > 30


@pytest.mark.parametrize("size", [32, 64, 128])
def test_clip_format_scales_with_size(size):
    clip = render_clip(sample_scene(np.random.default_rng(0)), size)
    assert clip.frames.shape == (16, size, size, 3) and clip.frames.dtype == np.uint8
    assert clip.audio.shape == (32_000,) and clip.audio.dtype == np.float32
    assert clip.fps == 8 and clip.sample_rate_hz == 16_000


@pytest.mark.parametrize("colour", list(spec.COLOURS))
@pytest.mark.parametrize("background", list(spec.BACKGROUNDS))
def test_palette_exact(colour, background):
    frames = render_frames(one(colour=colour, background=background, x0=32, y0=32, motion="still"))
    assert tuple(frames[0, 32, 32]) == spec.COLOURS[colour]
    assert tuple(frames[0, 1, 1]) == spec.BACKGROUNDS[background]


@pytest.mark.parametrize("size_name", ["small", "large"])
@pytest.mark.parametrize("frame_size", [64, 128])
def test_sizes_and_fill(size_name, frame_size):
    scale = frame_size / 64
    side = spec.SIZE_PX[size_name] * scale
    fills = {}
    for shape in spec.SHAPES:
        frame = render_frames(one(shape=shape, size=size_name, x0=32, y0=32, motion="still"), frame_size)[0]
        coverage = np.abs(frame.astype(float) - spec.BACKGROUNDS["navy"]).sum(-1) / np.abs(
            np.array(spec.COLOURS["red"], float) - spec.BACKGROUNDS["navy"]).sum()
        ys, xs = np.nonzero(coverage > 0.5)
        assert xs.max() - xs.min() + 1 == pytest.approx(side, abs=1.01)
        assert ys.max() - ys.min() + 1 == pytest.approx(side, abs=1.01)
        fills[shape] = coverage.sum() / side**2
    assert fills["square"] == pytest.approx(1.0, abs=0.02)
    assert fills["circle"] == pytest.approx(np.pi / 4, abs=0.02)
    assert fills["triangle"] == pytest.approx(0.5, abs=0.02)


def test_triangle_points_up():
    frame = render_frames(one(shape="triangle", x0=32, y0=32, motion="still"))[0]
    mask = object_mask(frame, "navy")
    widths = mask.sum(axis=1)[mask.any(axis=1)]
    assert widths[0] < widths[-1]


@pytest.mark.parametrize("motion", spec.MOTIONS)
def test_speed_is_one_and_a_half_pixels_per_frame(motion):
    start = {"left": (50, 32), "right": (14, 32), "up": (32, 50), "down": (32, 14), "still": (32, 32)}[motion]
    frames = render_frames(one(motion=motion, x0=start[0], y0=start[1]), 128)
    centroids = []
    for frame in frames:
        ys, xs = np.nonzero(object_mask(frame, "navy"))
        centroids.append((xs.mean() + 0.5, ys.mean() + 0.5))
    travel = (np.array(centroids[-1]) - centroids[0]) / 2  # back to 64-px units
    expected = np.array(spec.MOTION_DIRECTION[motion]) * 1.5 * 15
    assert travel == pytest.approx(expected, abs=0.3)


def test_random_scenes_stay_inside_and_apart():
    rng = np.random.default_rng(1)
    for _ in range(300):
        scene = sample_scene(rng)
        for obj in scene.objects:
            boxes = obj.boxes()
            assert boxes.min() >= 0 and boxes.max() <= 64
        if len(scene.objects) == 2:
            a, b = scene.objects
            assert not boxes_overlap(a, b)
            assert a.shape != b.shape or a.colour != b.colour


def estimate_pitch(audio, frame):
    window = audio[2000 * frame: 2000 * frame + 2000] * np.hanning(2000)
    spectrum = np.abs(np.fft.rfft(window, 1 << 17))
    peak = spectrum.argmax()
    a, b, c = np.log(spectrum[peak - 1: peak + 2])
    return (peak + 0.5 * (a - c) / (a - 2 * b + c)) * 16_000 / (1 << 17)


@pytest.mark.parametrize("motion", ["up", "down", "still"])
def test_pitch_follows_height_within_a_quarter_semitone(motion):
    scene = one(shape="circle", motion=motion, x0=32, y0={"up": 50, "down": 14, "still": 40}[motion])
    audio = render_audio(scene)
    y = scene.objects[0].centres()[:, 1]
    for k in range(16):
        expected = 220 * 4 ** (1 - y[k] / 64)
        assert abs(12 * np.log2(estimate_pitch(audio, k) / expected)) < 0.25


def test_waveform_and_amplitude_by_shape_and_size():
    for shape, size in [("circle", "small"), ("square", "large"), ("triangle", "large")]:
        audio = render_audio(one(shape=shape, size=size, motion="still"))
        assert np.abs(audio).max() == pytest.approx(spec.AMPLITUDE[size], rel=1e-3)
        rms_over_peak = np.sqrt((audio**2).mean()) / np.abs(audio).max()
        expected = {"circle": 1 / np.sqrt(2), "square": 1.0, "triangle": 1 / np.sqrt(3)}[shape]
        assert rms_over_peak == pytest.approx(expected, abs=0.01)


def test_two_tones_add_and_clip():
    a = WorldObject("square", "red", "large", "still", 15, 15)
    b = WorldObject("square", "blue", "large", "still", 45, 45)
    both = render_audio(Scene("black", (a, b)))
    unclipped = render_audio(Scene("black", (a,))) + render_audio(Scene("black", (b,)))
    assert np.allclose(both, np.clip(unclipped, -1, 1), atol=1e-6)
    assert np.abs(both).max() <= 1.0


def test_captions_follow_the_grammar():
    scene = Scene("beige", (WorldObject("circle", "red", "small", "left", 30, 30),
                            WorldObject("triangle", "white", "large", "still", 10, 10)))
    assert caption(scene) == ("a small red circle moving left and a large white triangle staying still "
                              "on a beige background")
    rng = np.random.default_rng(0)
    words = set(" ".join(partial_caption(rng, scene) for _ in range(200)).split())
    assert {"something", "shape", "circle", "left", "beige"} <= words
    full = re.compile(r"^a (small|large) \w+ (circle|square|triangle) (moving (left|right|up|down)|staying still)"
                      r"( and a (small|large) \w+ (circle|square|triangle) (moving \w+|staying still))? "
                      r"on a (black|gray|navy|beige) background$")
    for _ in range(100):
        assert full.match(caption(sample_scene(rng)))


def test_captions_parse_back_to_what_they_name():
    rng = np.random.default_rng(3)
    for _ in range(300):
        scene = sample_scene(rng)
        background, objects = parse_caption(caption(scene))
        assert background == scene.background
        assert objects == [{k: getattr(o, k) for k in ("size", "colour", "shape", "motion")} for o in scene.objects]
        partial = partial_caption(rng, scene)
        background, objects = parse_caption(partial)
        assert len(objects) == len(scene.objects) and background in (None, scene.background)
        for named, obj in zip(objects, scene.objects):
            assert all(getattr(obj, k) == v for k, v in named.items()), partial
    assert parse_caption("something moving left") == (None, [{"motion": "left"}])
    for bad in ("a red banana", "hello there", "a huge red circle", "a red circle on a pink background"):
        with pytest.raises(ValueError):
            parse_caption(bad)


def test_sampling_is_deterministic():
    a = [sample_scene(np.random.default_rng(7)) for _ in range(2)]
    assert a[0] == a[1]
    assert np.array_equal(render_clip(a[0]).frames, render_clip(a[1]).frames)


def test_holdout_train_never_shows_a_combination_and_heldout_always_does():
    rng = np.random.default_rng(3)
    for _ in range(300):
        assert not DEFAULT_HOLDOUT.is_held_out(sample_scene(rng, holdout=DEFAULT_HOLDOUT))
        assert DEFAULT_HOLDOUT.is_held_out(sample_scene(rng, holdout=DEFAULT_HOLDOUT, split="heldout"))
        edit = sample_edit(rng, holdout=DEFAULT_HOLDOUT)
        assert not DEFAULT_HOLDOUT.is_held_out(edit.source) and not DEFAULT_HOLDOUT.is_held_out(edit.target)
    with pytest.raises(ValueError, match="bad hold-out"):
        Holdout.parse(["colour=mauve"])


# ---------------------------------------------------------------- edits

def changed_pixels(a, b):
    return np.abs(a.astype(int) - b.astype(int)).sum(-1) > 0


@pytest.mark.parametrize("task", spec.EDIT_TASKS)
def test_each_edit_changes_only_what_it_should(task):
    rng = np.random.default_rng(11)
    for _ in range(20):
        edit = sample_edit(rng, task)
        source, target = render_edit(edit)
        assert edit.instruction == WORDINGS[task][0].format(**edit.values)
        assert len(set(edit.wordings())) == len(WORDINGS[task])
        if task in ("recolor", "reshape"):
            (i,) = [k for k, (a, b) in enumerate(zip(edit.source.objects, edit.target.objects)) if a != b]
            a, b = edit.source.objects[i], edit.target.objects[i]
            changed = {f for f in ("shape", "colour", "size", "motion", "x0", "y0") if getattr(a, f) != getattr(b, f)}
            assert changed == {"colour" if task == "recolor" else "shape"}
            boxes = a.boxes()
            for t in range(16):
                ys, xs = np.nonzero(changed_pixels(source.frames[t], target.frames[t]))
                assert xs.min() >= boxes[t, 0] - 1 and xs.max() <= boxes[t, 2] + 1
                assert ys.min() >= boxes[t, 1] - 1 and ys.max() <= boxes[t, 3] + 1
            assert (task == "reshape") == (not np.array_equal(source.audio, target.audio))
        elif task == "background":
            assert edit.target.objects == edit.source.objects
            assert tuple(target.frames[0, 0, 0]) == spec.BACKGROUNDS[edit.target.background]
            assert np.array_equal(source.audio, target.audio)
        elif task == "remove":
            assert len(edit.source.objects) == 2 and len(edit.target.objects) == 1
            assert edit.target.objects[0] in edit.source.objects
        elif task == "add":
            assert len(edit.source.objects) == 1 and edit.target.objects[0] == edit.source.objects[0]
        elif task == "segment":
            obj = edit.source.objects[edit.object_index]
            x, y = obj.centres()[0]
            assert tuple(target.frames[0, int(y), int(x)]) == spec.MARKER_MAGENTA
            assert np.array_equal(source.audio, target.audio)
            other = [o for o in edit.source.objects if o != obj]
            for o in other:
                ox, oy = o.centres()[0]
                assert tuple(target.frames[0, int(oy), int(ox)]) == spec.COLOURS[o.colour]
        elif task == "style":
            expected = np.rint(spec.luma(source.frames.astype(float)))
            assert np.abs(target.frames[..., 0] - expected).max() <= 0.5
            assert (target.frames[..., 0] == target.frames[..., 2]).all()
            assert np.array_equal(source.audio, target.audio)
        elif task == "reverse":
            assert np.array_equal(target.frames, source.frames[::-1])
            assert np.array_equal(target.audio, source.audio[::-1])


def test_inverse_instructions_undo_the_edit():
    rng = np.random.default_rng(5)
    for task in ("recolor", "reshape", "background", "add", "reverse"):
        edit = sample_edit(rng, task)
        assert edit.inverse_instruction is not None
        if task == "reverse":
            assert edit.inverse_instruction == "play it backwards"
            continue
        back = {"recolor": "make the", "reshape": "turn the", "background": "change the background to",
                "add": "remove the"}[task]
        assert edit.inverse_instruction.startswith(back)
    edit = sample_edit(rng, "recolor")
    old = [o for o, n in zip(edit.source.objects, edit.target.objects) if o != n][0]
    assert edit.inverse_instruction.endswith(old.colour)
    assert sample_edit(rng, "style").inverse_instruction is None


def test_image_triplets_are_single_frames_of_the_edit():
    rng = np.random.default_rng(2)
    edit = sample_edit(rng, "background")
    source, instruction, target = image_triplet(rng, edit)
    assert source.shape == target.shape == (64, 64, 3)
    assert instruction in edit.wordings()
    with pytest.raises(ValueError):
        image_triplet(rng, sample_edit(rng, "reverse"))


def test_grayscale_is_luma():
    frames = np.array([[[[255, 0, 0], [0, 255, 0], [0, 0, 255]]]], np.uint8)
    assert grayscale(frames)[0, 0, :, 0].tolist() == [76, 150, 29]


def test_unknown_task_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown edit task"):
        sample_edit(np.random.default_rng(0), "explode")
