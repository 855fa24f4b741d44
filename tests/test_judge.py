"""The judge against the renderer's ground truth: exact renders, mp4 round trips, noise and
blur, the edits it must see, and sound that disagrees with the picture."""

import dataclasses

import numpy as np
import pytest
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from studio import media
from studio.evaluation import ObjectReport, audio_matches, expected_pitch_hz, judge_clip
from studio.media import Clip
from studio.world import spec
from studio.world.edits import grayscale
from studio.world.render import render_audio, render_clip
from studio.world.scene import Scene, WorldObject, sample_scene


def disagreements(scene: Scene, clip: Clip) -> list[str]:
    """Everything the judge gets wrong about a clip of `scene` (empty when it is all right)."""
    report = judge_clip(clip)
    wrong = [] if report.background == scene.background else [f"background {report.background}"]
    if len(report.objects) != len(scene.objects):
        return wrong + [f"{len(report.objects)} objects for {len(scene.objects)}"]
    scale = clip.frames.shape[1] / spec.REFERENCE_SIZE_PX
    truth = np.array([o.centres(len(clip.frames)) * scale for o in scene.objects])  # (K, T, 2)
    seen = np.array([o.centres_px for o in report.objects])  # (K, T, 2)
    cost = np.nanmean(np.linalg.norm(truth[:, None] - seen[None], axis=-1), axis=-1)  # (K, K)
    for i, j in zip(*linear_sum_assignment(cost)):
        for attribute in ("shape", "colour", "size", "motion"):
            want, got = getattr(scene.objects[i], attribute), getattr(report.objects[j], attribute)
            wrong += [] if want == got else [f"{attribute} {got} for {want}"]
    agreement = audio_matches(report)
    wrong += [] if agreement.pitch_fraction >= 0.95 else [f"pitch on {agreement.pitch_fraction:.0%} of frames"]
    wrong += [] if agreement.timbre_ok else [f"timbre {report.timbre}"]
    return wrong


def agreement_rate(clips_and_scenes) -> tuple[float, list]:
    failures = [(scene, wrong) for scene, clip in clips_and_scenes if (wrong := disagreements(scene, clip))]
    return 1 - len(failures) / len(clips_and_scenes), failures


def random_scenes(seed: int, count: int) -> list[Scene]:
    rng = np.random.default_rng(seed)
    return [sample_scene(rng) for _ in range(count)]


def one_object(shape="circle", colour="red", size="large", motion="right", y0=30.0) -> Scene:
    return Scene("navy", (WorldObject(shape, colour, size, motion, 20.0, y0),))


# ---------------------------------------------------------------- agreement with the renderer

def test_agrees_with_renderer_on_500_clips_at_32px():
    scenes = random_scenes(0, 500)
    assert {len(s.objects) for s in scenes} == {1, 2}
    rate, failures = agreement_rate([(s, render_clip(s, 32)) for s in scenes])
    assert rate >= 0.99, failures


def test_agrees_with_renderer_at_64px():
    scenes = random_scenes(1, 100)
    rate, failures = agreement_rate([(s, render_clip(s, 64)) for s in scenes])
    assert rate >= 0.99, failures


def test_agrees_after_mp4_round_trip(tmp_path):
    path = tmp_path / "clip.mp4"
    pairs = []
    for scene in random_scenes(2, 100):
        media.write_video(path, render_clip(scene, 64))
        clip, _ = media.read_video(path, size=64)
        pairs.append((scene, clip))
    rate, failures = agreement_rate(pairs)
    assert rate >= 0.99, failures


@pytest.mark.parametrize("size", [32, 64])
def test_robust_to_noise_and_blur(size):
    rng = np.random.default_rng(3)
    pairs = []
    for scene in random_scenes(4, 100):
        clip = render_clip(scene, size)
        frames = ndimage.gaussian_filter(clip.frames.astype(np.float32), sigma=(0, 0.6, 0.6, 0))
        frames = np.clip(np.rint(frames + rng.normal(0, 8, frames.shape)), 0, 255).astype(np.uint8)
        audio = (clip.audio + rng.normal(0, 0.01, clip.audio.shape)).astype(np.float32)
        pairs.append((scene, dataclasses.replace(clip, frames=frames, audio=audio)))
    rate, failures = agreement_rate(pairs)
    assert rate >= 0.97, failures


def test_two_touching_objects_of_different_colours_are_two():
    scene = Scene("gray", (WorldObject("square", "red", "large", "still", 20.0, 30.0),
                           WorldObject("circle", "yellow", "large", "still", 40.2, 30.0)))
    assert disagreements(scene, render_clip(scene, 64)) == []


# ---------------------------------------------------------------- edits and traces

def test_grayscale_is_seen_and_background_named_by_luma():
    scene = one_object(colour="white")
    clip = render_clip(scene, 64)
    gray = judge_clip(dataclasses.replace(clip, frames=grayscale(clip.frames)))
    assert gray.is_grayscale and gray.background == "navy" and gray.objects[0].colour == "white"
    assert not judge_clip(clip).is_grayscale


def test_segment_marker_is_seen():
    scene = Scene("beige", (WorldObject("triangle", "blue", "large", "still", 16.0, 20.0),
                            WorldObject("circle", "green", "small", "up", 48.0, 44.0)))
    plain, marked = judge_clip(render_clip(scene, 64)), judge_clip(render_clip(scene, 64, highlight=0))
    assert plain.marker_fraction == 0.0
    marker_px = spec.SIZE_PX["large"] ** 2 / 2
    assert marked.marker_fraction == pytest.approx(marker_px / 64**2, rel=0.1)
    assert [o.colour for o in marked.objects] == ["magenta", "green"]
    assert [o.shape for o in marked.objects] == ["triangle", "circle"]


def test_reversed_clip_moves_back_and_still_sings_in_tune():
    clip = render_clip(one_object(motion="up", y0=50.0), 64)
    report = judge_clip(Clip(clip.frames[::-1].copy(), clip.audio[::-1].copy()))
    assert report.objects[0].motion == "down"
    assert audio_matches(report).pitch_ok.all() and audio_matches(report).timbre_ok


def test_empty_silent_clip():
    report = judge_clip(Clip(np.full((16, 32, 32, 3), 120, np.uint8), np.zeros(32_000, np.float32)))
    assert report.background == "gray" and report.objects == [] and report.timbre == []
    assert np.isnan(report.pitch_hz).all() and report.pitch_hz.shape == (16, 2)
    assert audio_matches(report).pitch_ok.all()


# ---------------------------------------------------------------- sound against picture

def test_expected_pitch_follows_spec_and_fills_gaps():
    y = np.array([0.0, np.nan, 32.0, np.nan, 64.0])
    obj = ObjectReport("circle", "red", "large", "down", np.stack([np.zeros(5), y], axis=1), 20.0, 0.6)
    expected = expected_pitch_hz(obj, 64)
    np.testing.assert_allclose(expected, spec.pitch_hz(np.array([0.0, 16.0, 32.0, 48.0, 64.0]), 64))
    np.testing.assert_allclose(expected[[0, 2, 4]], [880.0, 440.0, 220.0])


def test_wrong_sound_is_caught():
    scene = one_object(shape="circle", motion="still", y0=30.0)
    clip = render_clip(scene, 64)
    assert audio_matches(judge_clip(clip)).pitch_ok.all()

    square_tone = render_audio(one_object(shape="square", motion="still", y0=30.0))
    agreement = audio_matches(judge_clip(dataclasses.replace(clip, audio=square_tone)))
    assert agreement.pitch_ok.all() and not agreement.timbre_ok

    lower_tone = render_audio(one_object(shape="circle", motion="still", y0=45.0))  # ~2.8 semitones down
    assert not audio_matches(judge_clip(dataclasses.replace(clip, audio=lower_tone))).pitch_ok.any()

    silent = audio_matches(judge_clip(dataclasses.replace(clip, audio=np.zeros_like(clip.audio))))
    assert not silent.pitch_ok.any() and not silent.timbre_ok


def test_two_tones_are_separated_with_their_waveforms():
    scene = Scene("black", (WorldObject("square", "red", "small", "still", 16.0, 50.0),
                            WorldObject("triangle", "cyan", "large", "down", 48.0, 12.0)))
    report = judge_clip(render_clip(scene, 64))
    truth = np.array([spec.pitch_hz(o.centres()[:, 1], 64) for o in scene.objects]).T  # (T, 2)
    found = np.sort(report.pitch_hz, axis=1)
    np.testing.assert_allclose(found, np.sort(truth, axis=1), rtol=0.01)
    assert sorted(report.timbre) == ["square", "triangle"]
    assert audio_matches(report).timbre_ok


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("frames, audio, message", [
    (np.zeros((16, 32, 48, 3), np.uint8), np.zeros(32_000, np.float32), "square"),
    (np.zeros((16, 32, 32, 3), np.float32), np.zeros(32_000, np.float32), "uint8"),
    (np.zeros((0, 32, 32, 3), np.uint8), np.zeros(32_000, np.float32), "at least one"),
    (np.zeros((16, 32, 32, 3), np.uint8), np.zeros((32_000, 2), np.float32), "mono"),
])
def test_bad_clips_are_refused(frames, audio, message):
    with pytest.raises(ValueError, match=message):
        judge_clip(Clip(frames, audio))


def test_words_alone_place_nothing_so_objects_pair_by_what_they_are():
    """A caption names no positions: a right text -> video clip may put its two objects the
    other way round. Scored against the drawn scene by position it fails every attribute;
    with `positions_free` it is right, and a truly wrong colour is still caught."""
    from studio.evaluation.scoring import Expected, score

    red = WorldObject("circle", "red", "large", "still", 12.0, 16.0)
    blue = WorldObject("square", "blue", "small", "right", 30.0, 46.0)
    drawn = Scene("navy", (red, blue))
    swapped = Scene("navy", (dataclasses.replace(red, x0=30.0, y0=46.0), dataclasses.replace(blue, x0=12.0, y0=16.0)))
    report = judge_clip(render_clip(swapped, 64))
    by_position = score(report, Expected(drawn)).checks
    assert not any(by_position[a] for a in ("colour", "shape", "size", "motion"))
    assert score(report, Expected(drawn, positions_free=True)).all_ok
    green = Scene("navy", (dataclasses.replace(swapped.objects[0], colour="green"), swapped.objects[1]))
    checks = score(judge_clip(render_clip(green, 64)), Expected(drawn, positions_free=True)).checks
    assert not checks["colour"] and checks["shape"] and checks["motion"]
