"""Generation and edit pipelines on a tiny random checkpoint: determinism, seeds, candidates,
conditioning, checkpoints and clear errors."""

import json

import numpy as np
import pytest
import torch

from models.pipelines import GeneratePipeline, load_components
from models.pipelines import edit_pipeline
from models.pipelines.edit_pipeline import keep_unedited, retimed
from models.pipelines.object_composition import levelled, mix, recoloured, removed, split_objects
from models.task_detection import (added_object, detect_task, named_motion, named_size, object_reference,
                                   recolour_phrase, reshape_phrase)
from studio.world.edits import render_edit, sample_edit

FAST = dict(num_inference_steps=2, upsampler_steps=1)


def test_same_seed_same_clip_and_the_seed_is_reported(tiny_pipelines):
    generate, _ = tiny_pipelines
    a = generate("a red circle moving left", seed=7, **FAST)
    b = generate("a red circle moving left", seed=7, **FAST)
    c = generate("a red circle moving left", seed=8, **FAST)
    assert a.seeds == [7] and np.array_equal(a.frames, b.frames) and np.array_equal(a.audio, b.audio)
    assert not np.array_equal(a.frames, c.frames)
    assert a.frames.shape == (1, 16, 32, 32, 3) and a.frames.dtype == np.uint8
    assert a.audio.shape == (1, 32_000) and np.abs(a.audio).max() <= 1.0
    random_seed = generate("a red circle", **FAST).seeds[0]
    assert np.array_equal(generate("a red circle", seed=random_seed, **FAST).frames,
                          generate("a red circle", seed=random_seed, **FAST).frames)


def test_candidates_do_not_depend_on_how_many_were_asked(tiny_pipelines):
    generate, _ = tiny_pipelines
    three = generate("a blue square", seed=3, num_candidates=3, **FAST)
    assert three.seeds == [3, 4, 5]
    alone = generate("a blue square", seed=4, **FAST)
    # Equal up to float rounding (matrix kernels block differently by batch size).
    assert np.abs(three.frames[1].astype(int) - alone.frames[0]).max() <= 2


def test_guidance_and_negative_prompt_matter(tiny_pipelines):
    generate, _ = tiny_pipelines
    plain = generate("a blue square", seed=1, guidance_scale=1.0, **FAST)
    negative = generate("a blue square", seed=1, guidance_scale=5.0, negative_prompt="a red circle", **FAST)
    assert not np.array_equal(plain.frames, negative.frames)


def test_the_sound_has_its_own_guidance(tiny_pipelines):
    """`audio_guidance_scale` scales the audio branch's guidance, with its own default."""
    generate, _ = tiny_pipelines
    unguided = generate("a blue square", seed=1, guidance_scale=1.0, audio_guidance_scale=1.0, **FAST)
    default = generate("a blue square", seed=1, guidance_scale=1.0, **FAST)
    strong = generate("a blue square", seed=1, guidance_scale=1.0, audio_guidance_scale=6.0, **FAST)
    assert len({unguided.audio.tobytes(), default.audio.tobytes(), strong.audio.tobytes()}) == 3


def looks(*results):
    """A `first_look` that returns each of `results` in turn, then no faults for any stream."""
    queue = list(results)
    return lambda drawn, phrases: queue.pop(0) if queue else ([], [(False, False)] * len(drawn), None)


def no_second_look(generate, monkeypatch) -> None:
    """Every stream of the tiny model shows nothing, so each would be drawn again: not here."""
    monkeypatch.setattr(generate, "first_look", looks())


def test_composing_objects_samples_one_stream_per_object_and_mixes_their_sound(tiny_pipelines, monkeypatch):
    """Each object's clause is sampled from its own noise (the first from the candidate's, the
    next from seed + STREAM_SEED_STRIDE) and the clip's sound is the streams' sounds levelled and
    summed."""
    from models.pipelines.generate_pipeline import STREAM_SEED_STRIDE

    generate, _ = tiny_pipelines
    no_second_look(generate, monkeypatch)
    prompt = "a red circle and a blue square on a navy background"
    two = generate(prompt, seed=3, num_candidates=2, compose_objects=True, **FAST)
    assert two.seeds == [3, 4] and two.frames.shape == (2, 16, 32, 32, 3) and two.audio.shape == (2, 32_000)
    assert np.array_equal(two.frames, generate(prompt, seed=3, num_candidates=2, compose_objects=True, **FAST).frames)
    assert not np.array_equal(two.frames[:1], generate(prompt, seed=3, compose_objects=False, **FAST).frames)
    circle = generate("a red circle on a navy background", seed=4, compose_objects=False, **FAST)
    square = generate("a blue square on a navy background", seed=4 + STREAM_SEED_STRIDE,
                      compose_objects=False, **FAST)
    # Equal up to float rounding (matrix kernels block differently by batch size).
    assert np.abs(two.audio[1] - mix(levelled(np.stack([circle.audio[0], square.audio[0]]), 2), 2)).max() < 1e-3


def test_composing_one_object_keeps_its_noise_and_sound(tiny_pipelines, monkeypatch):
    generate, _ = tiny_pipelines
    no_second_look(generate, monkeypatch)
    whole = generate("a red circle", seed=2, compose_objects=False, **FAST)
    composed = generate("a red circle", seed=2, compose_objects=True, **FAST)
    assert np.array_equal(whole.audio, composed.audio)
    assert generate.config.compose_objects is False  # the tiny checkpoint does not ask for it
    assert np.array_equal(generate("two red circles", seed=2, compose_objects=True, **FAST).frames,
                          generate("two red circles", seed=2, compose_objects=False, **FAST).frames)


def test_a_small_object_is_drawn_large_and_laid_out_small(tiny_pipelines, monkeypatch):
    """From text, a stream asked for a small object is drawn large and its object laid out at the
    small size (`object_composition.drawn_size`); a first frame gives its objects' sizes itself."""
    from models.pipelines import object_composition

    generate, _ = tiny_pipelines
    no_second_look(generate, monkeypatch)
    encoded, extents = [], []
    monkeypatch.setattr(generate, "encode_text",
                        lambda prompts: encoded.append(prompts) or GeneratePipeline.encode_text(generate, prompts))
    composed = object_composition.composed
    monkeypatch.setattr(object_composition, "composed",
                        lambda *args, **kwargs: extents.append(kwargs["extents"]) or composed(*args, **kwargs))
    generate("a small red circle and a large blue square on a navy background", seed=3, compose_objects=True,
             picture_only=True, **FAST)
    assert encoded == [["", "", "a large red circle on a navy background", "a large blue square on a navy background"]]
    assert extents == [[12 / 64, None]]
    image = np.tile(np.array([20, 30, 90], np.uint8), (32, 32, 1))
    image[4:10, 4:10], image[20:26, 18:24] = (230, 40, 40), (40, 200, 60)
    generate("a small red square and a small green square", image=image, seed=5, compose_objects=True,
             picture_only=True, **FAST)
    assert "small" in encoded[-1][-1] and extents[-1] == [None, None]


def test_image_to_video_composes_each_object_from_its_own_image(tiny_pipelines, monkeypatch):
    """A first frame with as many objects as the prompt names: each stream starts from one
    object alone, under the phrase the denoiser matched to it; the sound is theirs levelled and summed."""
    from models.pipelines.generate_pipeline import STREAM_SEED_STRIDE
    from models.pipelines.object_composition import split_image

    generate, _ = tiny_pipelines
    no_second_look(generate, monkeypatch)
    image = np.tile(np.array([20, 30, 90], np.uint8), (32, 32, 1))
    image[4:10, 4:10], image[20:26, 18:24] = (230, 40, 40), (40, 200, 60)
    prompt = "a red square and a green square on a navy background"
    clip = generate(prompt, image=image, seed=5, compose_objects=True, **FAST)
    assert clip.frames.shape == (1, 16, 32, 32, 3)
    images = split_image(image, 2)
    phrases = generate.match_objects(images, ["a red square on a navy background",
                                              "a green square on a navy background"])
    assert sorted(phrases) == sorted(set(phrases)) and len(phrases) == 2
    alone = [generate(phrase, image=im, seed=5 + j * STREAM_SEED_STRIDE, compose_objects=False, **FAST).audio[0]
             for j, (phrase, im) in enumerate(zip(phrases, images))]
    assert np.abs(clip.audio[0] - mix(levelled(np.stack(alone), 2), 2)).max() < 1e-3
    one_object = image.copy()
    one_object[20:26, 18:24] = (20, 30, 90)  # the image shows one object, the prompt two: sampled whole
    assert np.array_equal(generate(prompt, image=one_object, seed=5, compose_objects=True, **FAST).frames,
                          generate(prompt, image=one_object, seed=5, compose_objects=False, **FAST).frames)


def test_a_first_look_at_the_streams_finds_those_showing_nothing_moving_wrong_or_too_large(tiny_pipelines,
                                                                                           monkeypatch):
    """`first_look` reads the streams' drawings at the base size: a square rising over the clip moves
    up, not left, and not still; a phrase without a motion word never moves wrong; 6 pixels of 32
    across, it is not too large for small (6 pixels) but 12 are (more than `SIZE_SLACK` times), not
    for large (10 pixels);
    a stream showing only its background shows nothing; each stream's background is its median
    colour."""
    generate, _ = tiny_pipelines
    navy = np.array([20, 30, 90], np.uint8)
    rising, blob = np.tile(navy, (2, 16, 32, 32, 1))
    for t in range(16):
        rising[t, 24 - t:30 - t, 4:10] = (240, 220, 40)
    blob[:, 8:20, 8:20] = (240, 220, 40)
    clips = np.stack([rising] * 4 + [np.tile(navy, (16, 32, 32, 1)), rising, blob, blob])
    phrases = ["a yellow square moving up", "a yellow square moving left", "a square staying still", "a square",
               "a white circle moving up on a beige background", "a small square moving up", "a small square",
               "a large square staying still"]
    empty, faults, backgrounds = generate.first_look(clips, phrases)
    assert empty == [4] and np.array_equal(backgrounds, np.tile(navy, (8, 1)))
    assert faults == [(False, False), (True, False), (True, False), (False, False), (False, False),
                      (False, False), (False, True), (False, False)]


def test_a_stream_that_shows_nothing_or_a_fault_is_drawn_once_more(tiny_pipelines, monkeypatch):
    """Object by object, the streams `first_look` finds fault with are sampled again in the base
    stage from seed + REDRAW_SEED_STRIDE, once; one that showed nothing without its place, one
    that moved wrong or came out too large as it was asked; the others are kept as drawn. The
    second drawing stands unless it shows nothing or its faults are worse, motion first."""
    from models.pipelines.generate_pipeline import REDRAW_SEED_STRIDE, STREAM_SEED_STRIDE

    generate, _ = tiny_pipelines
    prompt = "a red circle moving left and a blue square moving up on a navy background"
    looked, noise_seeds, encoded = [], [], []

    def noise(seeds, shape, salt):
        noise_seeds.append(seeds)
        return GeneratePipeline.noise(seeds, shape, salt)

    def encode_text(prompts):
        encoded.append(prompts)
        return GeneratePipeline.encode_text(generate, prompts)

    monkeypatch.setattr(generate, "noise", noise)
    monkeypatch.setattr(generate, "encode_text", encode_text)
    look = looks()
    monkeypatch.setattr(generate, "first_look", lambda drawn, phrases: looked.append(phrases) or look(drawn, phrases))
    kept = generate(prompt, seed=3, compose_objects=True, **FAST)
    assert looked == [["a red circle moving left on a navy background", "a blue square moving up on a navy background"]]
    navy = np.array([[25.0, 35, 90]] * 2)
    monkeypatch.setattr(generate, "first_look", looks(([0], [(False, False), (True, False)], navy)))
    noise_seeds.clear(), encoded.clear()
    again = generate(prompt, seed=3, compose_objects=True, **FAST)
    assert [3 + REDRAW_SEED_STRIDE, 3 + STREAM_SEED_STRIDE + REDRAW_SEED_STRIDE] in noise_seeds
    assert encoded[-1] == ["", "", "a red circle moving left", "a blue square moving up on a navy background"]
    assert not np.array_equal(again.audio, kept.audio)
    assert (again.frames == (25, 35, 90)).all()  # the tiny model draws no object: the first drawing's background
    phrase = "a red circle moving left"
    first, second = generate(phrase, seed=3, compose_objects=False, **FAST), generate(
        phrase, seed=3 + REDRAW_SEED_STRIDE, compose_objects=False, **FAST)
    for faults, faults_again, stands in [((True, False), (True, False), True), ((False, True), (False, False), True),
                                         ((False, True), (True, False), False), ((True, True), (False, True), True)]:
        monkeypatch.setattr(generate, "first_look", looks(([], [faults], None), ([], [faults_again], None)))
        redrawn = generate(phrase, seed=3, compose_objects=True, **FAST)
        assert np.array_equal(redrawn.audio, (second if stands else first).audio), (faults, faults_again)
    monkeypatch.setattr(generate, "first_look", looks(([], [(True, False)], None), ([0], [(False, False)], None)))
    assert np.array_equal(generate(phrase, seed=3, compose_objects=True, **FAST).audio, first.audio)  # shows nothing


def test_text_to_video_draws_its_sound_again_to_the_drawings_first_frame(tiny_pipelines, monkeypatch):
    """From text, the sound is that of the base stage run again from the same noise in a third of
    the steps with the drawing's first frame (at the base size) given: the sound image-to-video
    makes of that frame. An image's request draws its sound once, and so does a drawing whose sound
    is not used (an edit's drawing of a shape or a colour)."""
    generate, _ = tiny_pipelines
    first_frames = []
    sound_for = generate.sound_for

    def recorded(first, *args):
        first_frames.append(first[0])
        return sound_for(first, *args)

    monkeypatch.setattr(generate, "sound_for", recorded)
    from_text = generate("a red circle", seed=4, num_inference_steps=6, upsampler_steps=1)
    from_image = generate("a red circle", image=first_frames[0], seed=4, num_inference_steps=2, upsampler_steps=1)
    assert len(first_frames) == 1 and np.array_equal(from_text.audio, from_image.audio)
    unheard = generate("a red circle", seed=4, num_inference_steps=6, upsampler_steps=1, audio_guidance_scale=1.0)
    assert not np.array_equal(unheard.audio, from_text.audio)
    first_frames.clear()
    picture = generate("a red circle", seed=4, num_inference_steps=6, upsampler_steps=1, picture_only=True)
    assert first_frames == [] and np.array_equal(picture.frames, from_text.frames)
    generate("a red circle", image=from_image.frames[0, 0], seed=4, **FAST)
    assert first_frames == []


def test_a_stream_whose_tone_is_not_heard_at_its_objects_height_draws_its_sound_again(tiny_pipelines, monkeypatch):
    """Object by object from text, a stream whose tone is heard at its object's height in fewer than
    `HEARD_SHARE` of its frames has its sound drawn again, alone, from other noise, until one is
    heard there or `SOUND_DRAWS` were drawn; of its drawings the one with the least `tone_error`
    stands."""
    from models.pipelines.object_composition import SOUND_DRAWS

    generate, _ = tiny_pipelines
    no_second_look(generate, monkeypatch)
    sounds, errors, decoded = [], [], []
    sound_for, decode = generate.sound_for, generate.decode

    def recorded(first, *args):
        sounds.append(sound_for(first, *args))
        return sounds[-1].clone()

    def recorded_decode(video, audio):
        decoded.append(audio.clone())
        return decode(video, audio)

    monkeypatch.setattr(generate, "sound_for", recorded)
    monkeypatch.setattr(generate, "decode", recorded_decode)
    monkeypatch.setattr(generate, "tone_errors", lambda drawn, audio: [np.array(e, float) for e in errors.pop(0)])
    prompt = "a red circle moving left and a blue square moving up on a navy background"
    heard, unheard = [0.2, 0.9], [2.0, 2.0]
    for drawings, stands in [([[heard, [0.5, 0.5]]], 0), ([[unheard, heard], [heard]], 1),
                             ([[unheard, heard], [[1.5, 1.5]], [[0.5, 3.0]], [[3.0, 3.0]]], 1)]:
        sounds.clear()
        decoded.clear()
        errors[:] = drawings
        generate(prompt, seed=3, compose_objects=True, **FAST)
        assert errors == [] and len(sounds) == len(drawings) <= SOUND_DRAWS
        assert all(len(again) == 1 for again in sounds[1:])
        assert len({s.sum().item() for s in (sounds[0][:1], *sounds[1:])}) == len(sounds)  # other noise each time
        assert torch.equal(decoded[0][0], sounds[stands][0]) and torch.equal(decoded[0][1], sounds[0][1])


def test_a_moved_objects_sound_moves_in_pitch_with_it(tiny_pipelines):
    """`moved_sound`: a row whose object was laid 16 rows higher on the tiny model's 32-pixel
    frames sounds an octave higher; a row not moved is kept exactly."""
    generate, _ = tiny_pipelines
    t = np.arange(32_000) / 16_000
    tones = np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32)
    out = generate.moved_sound(tones, [0, -16])
    assert np.array_equal(out[0], tones[0])
    hz = np.abs(np.fft.rfft(out[1, 8_000:24_000] * np.hanning(16_000))).argmax()  # a 1-second window: 1 Hz bins
    assert abs(12 * np.log2(hz / 880)) < 0.25
    assert generate.moved_sound(tones, [0, 0]) is tones


def test_a_checkpoint_asks_for_composition_in_its_index(tmp_path, tiny_checkpoint, tiny_pipelines):
    import shutil

    folder = tmp_path / "composing"
    shutil.copytree(tiny_checkpoint, folder)
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "compose_objects": True}))
    components, clip_format = load_components(folder)
    assert clip_format["compose_objects"] is True and load_components(tiny_checkpoint)[1]["compose_objects"] is False
    pipe = GeneratePipeline(**components, **clip_format)
    pipe.set_progress_bar_config(disable=True)
    prompt = "a red circle and a blue square"
    generate, _ = tiny_pipelines
    assert np.array_equal(pipe(prompt, seed=1, **FAST).frames, generate(prompt, seed=1, compose_objects=True, **FAST).frames)


def test_image_to_video_uses_the_image(tiny_pipelines):
    generate, _ = tiny_pipelines
    black = generate("a red circle", image=np.zeros((40, 40, 3), np.uint8), seed=1, **FAST)
    white = generate("a red circle", image=np.full((40, 40, 3), 255, np.uint8), seed=1, **FAST)
    assert black.frames.shape == (1, 16, 32, 32, 3)
    assert not np.array_equal(black.frames, white.frames)


def test_image_to_video_keeps_the_given_first_frame(tiny_pipelines):
    """Both stages pin the image's latent in frame 0, and the VAE is causal: another prompt and
    seed change the clip but not its first frame."""
    generate, _ = tiny_pipelines
    image = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    a = generate("a red circle", image=image, seed=1, **FAST)
    b = generate("a blue square moving up", image=image, seed=2, **FAST)
    assert np.array_equal(a.frames[0, 0], b.frames[0, 0])
    assert not np.array_equal(a.frames[0, 2:], b.frames[0, 2:])


def test_edit_detects_the_task_keeps_audio_and_takes_overrides(tiny_pipelines):
    _, edit = tiny_pipelines
    source, _ = render_edit(sample_edit(np.random.default_rng(0), "recolor"), 32)
    out = edit(source.frames, source.audio, "make the circle blue", seed=2, num_candidates=2, **FAST)
    assert out.task == "recolor" and out.seeds == [2, 3] and out.frames.shape == (2, 16, 32, 32, 3)
    kept = edit(source.frames, source.audio, "play it backwards", seed=2, keep_audio=True, **FAST)
    assert kept.task == "reverse" and np.array_equal(kept.audio[0], source.audio)
    forced = edit(source.frames, source.audio, "make the circle blue", task="style", seed=2, **FAST)
    assert forced.task == "style" and not np.array_equal(forced.frames[0], out.frames[0])


def test_keep_unedited_restores_the_source_where_the_edit_changed_little():
    source = np.full((4, 24, 24, 3), 100, np.uint8)
    edited = source[None] + np.uint8(8)  # what regenerating the whole clip leaves on untouched pixels
    edited[0, :, 8:16, 8:16] = 220  # the edit itself
    out = keep_unedited(edited, source)
    assert np.array_equal(out[0, :, :6], source[:, :6]) and np.array_equal(out[0, :, 18:], source[:, 18:])
    assert np.array_equal(out[0, :, 9:15, 9:15], edited[0, :, 9:15, 9:15])
    assert out.min() >= 100 and out.max() <= 220


def test_retimed_shows_the_source_frame_nearest_each_edited_frame():
    source = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    blurred = (source[::-1].astype(np.float32) * 0.8 + 20).astype(np.uint8)  # a reversal, decoded a little off
    out = retimed(np.stack([blurred, source[[0, 0, 1, 1, 2, 2]]]), source)
    assert np.array_equal(out[0], source[::-1]) and np.array_equal(out[1], source[[0, 0, 1, 1, 2, 2]])


def test_local_edits_keep_unedited_pixels_and_whole_frame_edits_do_not(tiny_pipelines, monkeypatch):
    _, edit = tiny_pipelines
    source, _ = render_edit(sample_edit(np.random.default_rng(0), "recolor"), 32)
    sources = []

    def blank(frames, original):
        sources.append(original)
        return np.zeros_like(frames)
    monkeypatch.setattr(edit_pipeline, "keep_unedited", blank)
    local = edit(source.frames, source.audio, "make the circle blue", seed=2, **FAST)
    assert len(sources) == 1 and np.array_equal(sources[0], source.frames) and not local.frames.any()
    whole_frame = edit(source.frames, source.audio, "make it grayscale", seed=2, **FAST)
    off = edit(source.frames, source.audio, "make the circle blue", seed=2, keep_unedited_pixels=False, **FAST)
    assert len(sources) == 1 and whole_frame.frames.any() and off.frames.any()
    reversed_ = edit(source.frames, source.audio, "play it backwards", seed=2, num_candidates=2, **FAST)
    raw = edit(source.frames, source.audio, "play it backwards", seed=2, num_candidates=2, keep_unedited_pixels=False,
               **FAST)
    assert np.array_equal(reversed_.frames, retimed(raw.frames, source.frames)) and len(sources) == 1


def generate_nothing(seed, num_candidates=1, **_):
    """A generation pipeline's output that shows no object (a flat clip, silent)."""
    from models.pipelines.studio_pipeline import ClipOutput

    return ClipOutput(frames=np.zeros((num_candidates, 16, 32, 32, 3), np.uint8),
                      audio=np.zeros((num_candidates, 32_000), np.float32), seeds=[seed], fps=8.0,
                      sample_rate_hz=16_000)


def named_alone(edit, frames: np.ndarray, instruction: str) -> tuple[np.ndarray, np.ndarray]:
    """(the source with only the object the edit pipeline names left, the other objects' mask)."""
    objects = split_objects(frames)
    named = edit.named_object(objects, instruction)
    return objects[named][0], np.any([mask for i, (_, mask) in enumerate(objects) if i != named], axis=0)


def test_an_edit_of_one_object_of_several_edits_it_alone(tiny_pipelines, monkeypatch):
    """Object by object, the transformer edits the source with only the named object in it
    (the one whose denoising error the instruction lowers most) and the others come back from
    the source; remove is shown the whole source, the others coming back all the same (those
    it did not remove, where it removed one); a whole-frame task, a one-object source or
    composition off edit the source."""
    _, edit = tiny_pipelines
    navy = np.array([20, 30, 90], np.uint8)
    frames = np.tile(navy, (16, 32, 32, 1))
    frames[:, 4:10, 4:10], frames[:, 20:26, 18:24] = (230, 40, 40), (40, 200, 60)
    audio = np.zeros(32_000, np.float32)
    monkeypatch.setitem(edit.__dict__, "generation", lambda *a, **k: generate_nothing(**k))  # the transformer reshapes
    alone, others = named_alone(edit, frames, "turn the red square into a circle")
    grown = [others[:, 3:11, 3:11].sum(), others[:, 19:27, 17:25].sum()]  # the tiny model names either square
    assert others.sum() == 16 * (8 * 8 - 4) and others.sum() in grown
    assert (alone[~others] == frames[~others]).all() and (alone[others] == navy).all()
    composed = edit(frames, audio, "turn the red square into a circle", seed=2, compose_objects=True, **FAST)
    plain = edit(alone, audio, "turn the red square into a circle", seed=2, compose_objects=False, **FAST)
    assert np.array_equal(composed.frames[0][others], frames[others])
    assert np.array_equal(composed.frames[0][~others], plain.frames[0][~others])
    assert np.array_equal(composed.audio, plain.audio)
    objects = split_objects(frames)
    named = edit.named_object(objects, "take out the red square")
    out = edit(frames, audio, "take out the red square", seed=2, compose_objects=True, **FAST)
    raw = edit(frames, audio, "take out the red square", seed=2, compose_objects=False, keep_unedited_pixels=False,
               **FAST)
    edited = keep_unedited(raw.frames, frames)[0]
    assert np.array_equal(out.frames[0], removed(frames, edited, [mask for _, mask in objects], named))
    monkeypatch.setattr(type(edit), "named_object", lambda *a: pytest.fail("not an edit of one named object"))
    whole = edit(frames, audio, "make it grayscale", seed=2, compose_objects=True, **FAST)
    assert whole.frames.shape == (1, 16, 32, 32, 3)
    assert edit.config.compose_objects is False  # the tiny checkpoint: off unless asked
    edit(frames, audio, "turn the red square into a circle", seed=2, **FAST)


def test_an_edit_of_colours_alone_recolours_the_sources_objects_or_background(tiny_pipelines, monkeypatch):
    """Recolor (where the generator draws nothing) and segment, object by object: the source,
    with each object the edit gave a new colour in that colour; no other pixel changes.
    Background: the source with the edit's background colour behind its objects. Style: every
    colour the edit's."""
    _, edit = tiny_pipelines
    monkeypatch.setitem(edit.__dict__, "generation", lambda *a, **k: generate_nothing(**k))  # the transformer recolours
    frames = np.tile(np.array([20, 30, 90], np.uint8), (16, 32, 32, 1))
    frames[:, 4:10, 4:10], frames[:, 20:26, 18:24] = (230, 40, 40), (40, 200, 60)
    audio = np.zeros(32_000, np.float32)
    for instruction in ("make the red square blue", "highlight the green square"):
        alone, others = named_alone(edit, frames, instruction)
        out = edit(frames, audio, instruction, seed=2, compose_objects=True, **FAST).frames[0]
        raw = edit(alone, audio, instruction, seed=2, compose_objects=False, keep_unedited_pixels=False, **FAST)
        masks = [mask for _, mask in split_objects(frames)]
        assert np.array_equal(out, recoloured(frames, np.where(others[..., None], frames, raw.frames[0]), masks,
                                              frozenset({"objects"})))
        objects = np.zeros(frames.shape[:3], bool)
        objects[:, 3:11, 3:11] = objects[:, 19:27, 17:25] = True
        assert np.array_equal(out[~objects], frames[~objects])
        whole = edit(frames, audio, instruction, seed=2, compose_objects=True, keep_unedited_pixels=False, **FAST)
        assert np.array_equal(whole.frames[0], np.where(others[..., None], frames, raw.frames[0]))
    out = edit(frames, audio, "change the background to beige", seed=2, compose_objects=True, **FAST).frames[0]
    raw = edit(frames, audio, "change the background to beige", seed=2, compose_objects=False, **FAST).frames[0]
    assert np.array_equal(out, recoloured(frames, raw, masks, frozenset({"background"})))
    assert np.array_equal(out[:, 5:9, 5:9], frames[:, 5:9, 5:9])  # an object's interior: covered, unchanged
    out = edit(frames, audio, "make it grayscale", seed=2, compose_objects=True, **FAST).frames[0]
    raw = edit(frames, audio, "make it grayscale", seed=2, compose_objects=False, **FAST).frames[0]
    assert np.array_equal(out, recoloured(frames, raw, masks, frozenset({"objects", "background"}), min_change=0))
    noise = np.random.default_rng(0).integers(0, 256, frames.shape, dtype=np.uint8)  # no objects on a background
    assert np.array_equal(edit(noise, audio, "make the red square blue", seed=2, compose_objects=True, **FAST).frames,
                          edit(noise, audio, "make the red square blue", seed=2, compose_objects=False, **FAST).frames)


def test_caption_errors_read_the_generation_transformer_over_the_cells_asked(tiny_checkpoint, tiny_pipelines):
    """The edit pipeline tells objects apart with the generator's captions where it is given
    it, and over each object's own latent cells."""
    from models.pipelines import EditPipeline

    _, edit = tiny_pipelines
    components, clip_format = load_components(tiny_checkpoint)
    generator = type(components["transformer"]).from_config(components["transformer"].config).eval()
    shape = edit.latent_shapes(edit.config.base_size)[0]  # (C, T, h, w)
    clean = torch.randn((2, *shape), generator=torch.Generator().manual_seed(0))
    text = edit.encode_text(["a red square", "a blue circle"])
    whole = edit.caption_errors(clean, text)
    assert torch.allclose(edit.caption_errors(clean, text, torch.ones(2, *shape[1:])), whole)
    left = torch.zeros(2, *shape[1:])
    left[..., : shape[-1] // 2] = 1
    assert not torch.allclose(edit.caption_errors(clean, text, left), whole)
    with_generator = EditPipeline(**components, generation_transformer=generator, **clip_format)
    assert not torch.allclose(with_generator.caption_errors(clean, text), whole)
    alone = EditPipeline(**{**components, "transformer": generator}, **clip_format)
    assert torch.equal(with_generator.caption_errors(clean, text), alone.caption_errors(clean, text))
    assert with_generator.generation.transformer is generator


def test_an_add_edit_lays_the_generators_object_over_the_source(tiny_pipelines, monkeypatch):
    """Object by object, add asks the generation pipeline for the object the instruction names
    and lays it over the source (its tone mixed in); where the generator draws none, or the
    instruction names no "a ...", or composition is off, the edit transformer adds it."""
    from models.pipelines.generate_pipeline import GeneratePipeline
    from models.pipelines.object_composition import laid_over
    from models.pipelines.studio_pipeline import ClipOutput

    generate, edit = tiny_pipelines
    assert isinstance(edit.generation, GeneratePipeline) and edit.generation.transformer is edit.transformer
    assert np.array_equal(edit.generation("a red circle", seed=1, compose_objects=True, **FAST).frames,
                          generate("a red circle", seed=1, compose_objects=True, **FAST).frames)
    navy = np.array([20, 30, 90], np.uint8)
    frames = np.tile(navy, (16, 32, 32, 1))
    frames[:, 4:12, 4:12] = (230, 40, 40)
    audio = np.full(32_000, 0.1, np.float32)
    drawn = np.zeros((1, 16, 32, 32, 3), np.uint8)
    drawn[:, :, 20:28, 6:14] = (240, 220, 40)
    asked = []

    def draw(prompt, **kwargs):
        asked.append((prompt, kwargs["seed"], kwargs["num_inference_steps"]))
        return ClipOutput(frames=drawn, audio=np.full((1, 32_000), 0.95, np.float32), seeds=[kwargs["seed"]],
                          fps=8.0, sample_rate_hz=16_000)

    monkeypatch.setitem(edit.__dict__, "generation", draw)
    out = edit(frames, audio, "put a small yellow square staying still in the scene", seed=3, compose_objects=True,
               **FAST)
    assert asked == [("a small yellow square staying still", 3, 2)] and out.task == "add" and out.seeds == [3]
    assert np.array_equal(out.frames[0], laid_over(frames, drawn[0])[0]) and not np.array_equal(out.frames[0], frames)
    assert np.allclose(out.audio, 1.0)  # 0.1 + 0.95, clipped as the world mixes tones
    kept = edit(frames, audio, "add a small yellow square", seed=3, compose_objects=True, keep_audio=True, **FAST)
    assert np.array_equal(kept.audio[0], audio)
    by_transformer = edit(frames, audio, "add a small yellow square", seed=3, compose_objects=False, **FAST)
    assert len(asked) == 2 and not np.array_equal(by_transformer.frames, out.frames)
    drawn[:] = 0  # nothing drawn: the edit transformer adds it
    nothing = edit(frames, audio, "add a small yellow square", seed=3, compose_objects=True, **FAST)
    assert len(asked) == 3 and np.array_equal(nothing.frames, by_transformer.frames)
    edit(frames, audio, "add stars", task="add", seed=3, compose_objects=True, **FAST)
    assert len(asked) == 3


def two_squares() -> tuple[np.ndarray, np.ndarray]:
    """(frames (16, 32, 32, 3): a red and a green square on navy, audio: a constant 0.1)."""
    frames = np.tile(np.array([20, 30, 90], np.uint8), (16, 32, 32, 1))
    frames[:, 4:12, 4:12], frames[:, 20:26, 18:24] = (230, 40, 40), (40, 200, 60)
    return frames, np.full(32_000, 0.1, np.float32)


def fake_drawing(edit, monkeypatch, drawn: np.ndarray, pick: int) -> tuple[list, list]:
    """The edit pipeline's generator made to draw `drawn` (1, T, H, W, 3) and its pick to take
    object `pick`: (what it was asked to draw: (prompt, candidates, base steps), what the pick was
    given: (instruction, whether the drawing shown is `drawn`'s))."""
    from models.pipelines.studio_pipeline import ClipOutput

    asked, named = [], []

    def draw(prompt, **kwargs):
        asked.append((prompt, kwargs.get("num_candidates", 1), kwargs["num_inference_steps"]))
        return ClipOutput(frames=drawn.copy(), audio=np.full((1, 32_000), 0.9, np.float32), seeds=[kwargs["seed"]],
                          fps=8.0, sample_rate_hz=16_000)

    def named_object(objects, instruction, drawing=None):
        named.append((instruction, drawing is not None and np.array_equal(drawing, drawn[0])))
        return pick

    monkeypatch.setitem(edit.__dict__, "generation", draw)
    monkeypatch.setattr(edit, "named_object", named_object)
    return asked, named


def test_a_reshape_edit_gives_the_named_object_the_generators_shape(tiny_pipelines, monkeypatch):
    """Object by object, reshape asks the generation pipeline for the shape the instruction's
    last "a ..." names, large, and the object the instruction names (of several: `named_object`,
    shown a drawing of the named object's shape) takes that shape, the sound the source's; where
    the generator draws nothing, the edit transformer reshapes it."""
    from models.pipelines.object_composition import reshaped

    _, edit = tiny_pipelines
    frames, audio = two_squares()
    drawn = np.zeros((1, 16, 32, 32, 3), np.uint8)
    yy, xx = np.mgrid[:32, :32]
    drawn[:, :, (yy - 16) ** 2 + (xx - 16) ** 2 <= 36] = (240, 220, 40)  # a disc
    asked, named = fake_drawing(edit, monkeypatch, drawn, pick=1)
    out = edit(frames, audio, "turn the green square into a circle", seed=3, compose_objects=True, **FAST)
    assert asked == [("a large circle", 1, 2), ("a large square", 1, 1)] and out.task == "reshape"
    assert named == [("turn the green square into a circle", True)]
    green = split_objects(frames)[1][1]
    assert green[:, 22, 20].all() and np.array_equal(out.frames[0], reshaped(frames, green, drawn[0]))
    assert np.array_equal(out.audio[0], audio)
    drawn[:] = 0  # nothing drawn: the edit transformer reshapes the object the whole instruction names
    by_transformer = edit(frames, audio, "turn the green square into a circle", seed=3, compose_objects=True, **FAST)
    assert len(asked) == 4 and named[-1] == ("turn the green square into a circle", False)
    assert by_transformer.task == "reshape" and not np.array_equal(by_transformer.audio[0], audio)


def test_a_recolor_edit_gives_the_named_object_the_generators_colour(tiny_pipelines, monkeypatch):
    """Object by object, recolor asks the generation pipeline for the object the instruction
    names, large, in the colour it names after it, and that object (of several: `named_object`,
    shown the drawing for its shape) takes the drawn colour on its own outline, the sound the
    source's; an instruction naming no shape is the edit transformer's."""
    from models.pipelines.object_composition import painted

    _, edit = tiny_pipelines
    frames, audio = two_squares()
    drawn = np.zeros((1, 16, 32, 32, 3), np.uint8)
    drawn[:, :, 10:20, 10:20] = (40, 70, 220)
    asked, named = fake_drawing(edit, monkeypatch, drawn, pick=0)
    out = edit(frames, audio, "paint the red square blue", seed=3, compose_objects=True, **FAST)
    assert asked == [("a large blue square", 1, 2)] and named == [("paint the red square blue", True)]
    assert out.task == "recolor"
    red = split_objects(frames)[0][1]
    assert red[:, 8, 8].all() and np.array_equal(out.frames[0], painted(frames, red, drawn[0]))
    assert (out.frames[0][:, 5:11, 5:11] == (40, 70, 220)).all()
    assert np.array_equal(out.frames[0][~red], frames[~red]) and np.array_equal(out.audio[0], audio)
    edit(frames, audio, "make it red", seed=3, compose_objects=True, **FAST)
    assert len(asked) == 1  # no shape named: nothing drawn


def test_a_drawing_of_the_named_shape_picks_the_object_where_outlines_differ(tiny_pipelines, monkeypatch):
    """Of objects of different shapes, the one most like the drawing; of objects alike in shape,
    the caption errors pick, as without a drawing."""
    _, edit = tiny_pipelines
    yy, xx = np.mgrid[:32, :32]
    frames = np.tile(np.array([20, 30, 90], np.uint8), (16, 32, 32, 1))
    frames[:, 4:12, 4:12] = (230, 40, 40)
    frames[:, (yy - 22) ** 2 + (xx - 22) ** 2 <= 36] = (40, 200, 60)
    objects = split_objects(frames)
    square, disc = (0, 1) if objects[0][1][0, 8, 8] else (1, 0)
    drawing = np.zeros((16, 32, 32, 3), np.uint8)
    drawing[:, 8:24, 8:24] = (240, 220, 40)
    assert edit.named_object(objects, "paint the square blue", drawing) == square
    drawing[:] = 0
    drawing[:, (yy - 16) ** 2 + (xx - 16) ** 2 <= 64] = (240, 220, 40)
    assert edit.named_object(objects, "paint the square blue", drawing) == disc  # the drawing decides
    frames[:, (yy - 22) ** 2 + (xx - 22) ** 2 <= 36] = (20, 30, 90)
    frames[:, 18:26, 18:26] = (40, 200, 60)  # two squares
    objects = split_objects(frames)
    by_caption = edit.named_object(objects, "paint the green square blue")
    assert edit.named_object(objects, "paint the green square blue", drawing) == by_caption
    monkeypatch.setattr(edit, "encode_text", lambda texts: pytest.fail(texts) if texts[0] != "a green square" else
                        type(edit).encode_text(edit, texts))
    assert edit.named_object(objects, "paint the green square blue") == by_caption  # by its object's phrase


def test_an_edit_keeps_a_source_of_one_object_whole(tiny_pipelines):
    _, edit = tiny_pipelines
    frames = np.tile(np.array([20, 30, 90], np.uint8), (16, 32, 32, 1))
    frames[:, 4:10, 4:10] = (230, 40, 40)
    audio = np.zeros(32_000, np.float32)
    assert edit.named_object(split_objects(frames), "turn the square into a circle") is None
    assert np.array_equal(
        edit(frames, audio, "turn the square into a circle", seed=2, compose_objects=True, **FAST).frames,
        edit(frames, audio, "turn the square into a circle", seed=2, **FAST).frames)


@pytest.mark.parametrize("kwargs,message", [
    (dict(prompt="   "), "prompt is empty"),
    (dict(num_inference_steps=0), "steps must be between"),
    (dict(num_inference_steps=10**6), "steps must be between"),
    (dict(guidance_scale=float("nan")), "finite"),
    (dict(guidance_scale=float("inf")), "finite"),
    (dict(audio_guidance_scale=-1.0), "audio guidance must be a finite number"),
    (dict(seed=-1), "seed must be"),
    (dict(seed=2**64), "seed must be"),
    (dict(num_candidates=0), "candidates"),
    (dict(image=np.zeros((10, 20, 3), np.uint8)), "square"),
])
def test_generate_rejects_bad_input_clearly(tiny_pipelines, kwargs, message):
    generate, _ = tiny_pipelines
    with pytest.raises(ValueError, match=message):
        generate(**{"prompt": "a red circle", "seed": 1, **FAST, **kwargs})


def test_edit_rejects_bad_input_clearly(tiny_pipelines):
    _, edit = tiny_pipelines
    frames, audio = np.zeros((16, 32, 32, 3), np.uint8), np.zeros(32_000, np.float32)
    with pytest.raises(ValueError, match="unknown task"):
        edit(frames, audio, "make it blue", task="explode", **FAST)
    with pytest.raises(ValueError, match="could not tell"):
        edit(frames, audio, "do something nice", **FAST)
    with pytest.raises(ValueError, match="16 square RGB frames"):
        edit(frames[:3], audio, "make it grayscale", **FAST)


def test_checkpoint_round_trip_gives_identical_clips(tiny_checkpoint, tiny_pipelines):
    generate, _ = tiny_pipelines
    components, clip_format = load_components(tiny_checkpoint)
    again = GeneratePipeline(**components, **clip_format)
    again.set_progress_bar_config(disable=True)
    a, b = generate("a red circle", seed=5, **FAST), again("a red circle", seed=5, **FAST)
    assert np.array_equal(a.frames, b.frames)
    index = json.loads((tiny_checkpoint / "model_index.json").read_text())
    assert index["base_size"] == 16 and index["size"] == 32 and "upsampler" in index["components"]


def test_bf16_sampling_runs_a_fresh_bf16_copy_and_keeps_the_weights(tiny_checkpoint):
    """With `bf16`, each sampling loop runs a bf16 twin refreshed from the denoiser's current
    weights; the fp32 weights stay as they were and the clip stays close to fp32 sampling's."""
    components, clip_format = load_components(tiny_checkpoint)
    pipe = GeneratePipeline(**components, **clip_format)
    pipe.set_progress_bar_config(disable=True)
    pipe.bf16 = False
    exact = pipe("a red circle moving left", seed=3, **FAST)
    weights = {k: v.clone() for k, v in pipe.transformer.state_dict().items()}
    pipe.bf16 = True
    fast = pipe("a red circle moving left", seed=3, **FAST)
    assert all(torch.equal(v, weights[k]) and v.dtype == torch.float32
               for k, v in pipe.transformer.state_dict().items())
    assert np.abs(fast.frames.astype(int) - exact.frames).mean() < 2
    twin = pipe.fast_copy(pipe.transformer)
    assert twin is not pipe.transformer and twin.dtype == torch.bfloat16
    with torch.no_grad():
        pipe.transformer.video_final.linear.bias.add_(1.0)
    assert torch.equal(pipe.fast_copy(pipe.transformer).video_final.linear.bias,
                       pipe.transformer.video_final.linear.bias.bfloat16())


def test_bad_model_folders_are_clear_errors(tmp_path, tiny_checkpoint):
    with pytest.raises(ValueError, match="does not exist"):
        load_components(tmp_path / "missing")
    with pytest.raises(ValueError, match="model_index.json"):
        load_components(tmp_path)
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint, broken)
    weights = broken / "transformer" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match="cannot load 'transformer'"):
        load_components(broken)


# Wordings that are not the templates the world's edits are written from.
PARAPHRASES = {
    "recolor": ["could you make the square green", "I want the triangle to be purple", "recolour the circle to cyan",
                "the red square should turn yellow", "switch the circle's colour to white"],
    "reshape": ["make the circle into a triangle", "I want the square to become a circle",
                "swap the triangle for a square", "transform the circle into a square", "the square should be a disc"],
    "background": ["make the backdrop beige", "I'd like a gray background", "background should be navy please",
                   "change what's behind it to black", "give it a beige background"],
    "remove": ["delete the blue circle", "please remove the square", "get rid of the red triangle",
               "take the circle out", "erase the green square"],
    "add": ["add a small blue circle moving up", "put a large red square in too", "insert a triangle moving left",
            "also show a white circle staying still", "include another square moving down"],
    "segment": ["highlight the circle please", "outline the square", "mark where the triangle is",
                "select the red circle", "point out the square"],
    "style": ["make the video black and white", "grayscale please", "turn it into monochrome",
              "remove all the colours", "desaturate it"],
    "reverse": ["run the clip in reverse", "play this backwards", "reverse the clip", "rewind it",
                "make the video play backwards"],
}


@pytest.mark.parametrize("instruction, phrase", [
    ("put a small red circle moving left in the scene", "a small red circle moving left"),
    ("Include a large blue square moving up too.", "a large blue square moving up"),
    ("also show an orange triangle", "an orange triangle"),
    ("insert one green disc as well", "one green disc"),
    ("add stars", None),
])
def test_an_add_instruction_names_its_object_from_its_first_article(instruction, phrase):
    assert added_object(instruction) == phrase


@pytest.mark.parametrize("phrase, direction", [
    ("a small red circle moving left", (0, -1)),
    ("a large square moving up", (-1, 0)),
    ("a triangle staying still", (0, 0)),
    ("a blue circle", None),
])
def test_an_added_objects_motion_is_read_from_its_last_motion_word(phrase, direction):
    assert named_motion(phrase) == direction


@pytest.mark.parametrize("phrase, size", [
    ("a small red circle moving left", "small"),
    ("a large square", "large"),
    ("a smaller blue circle", None),
])
def test_a_phrases_size_is_read_from_its_last_size_word(phrase, size):
    assert named_size(phrase) == size


@pytest.mark.parametrize("instruction, reference", [
    ("paint the cyan square red", ("a cyan square", "square")),
    ("change the colour of the triangle to white", ("a triangle", "triangle")),
    ("Replace the red circle with a square of the same colour.", ("a red circle", "circle")),
    ("make the small circle a triangle", ("a small circle", "circle")),
    ("turn the thing into a square", None),  # "the" names no shape before "a"
    ("make the car red", None),
])
def test_an_instruction_names_its_object_from_the_last_the_before_a_shape(instruction, reference):
    assert object_reference(instruction) == reference


@pytest.mark.parametrize("instruction, phrase", [
    ("turn the circle into a square", "a large square"),
    ("Replace the red circle with a square of the same colour.", "a large square"),
    ("make the small circle a star", "a star"),  # a shape the rules do not know: as written
    ("a square", None),  # nothing names the object
    ("reshape it into a", None),  # nothing names the shape
    ("reshape the circle", None),
])
def test_a_reshape_instruction_draws_the_shape_of_its_last_article_large(instruction, phrase):
    assert reshape_phrase(instruction) == phrase


@pytest.mark.parametrize("instruction, phrase", [
    ("paint the cyan square red", "a large red square"),
    ("Give the orange circle a purple colour.", "a large purple circle"),
    ("change the colour of the triangle to white", "a large white triangle"),
    ("make the car red", None),  # no shape named
    ("recolour the red square", None),  # no colour named after it
])
def test_a_recolor_instruction_draws_its_object_large_in_the_colour_named_after_it(instruction, phrase):
    assert recolour_phrase(instruction) == phrase


def test_task_detection_on_unseen_wordings_is_at_least_95_percent():
    cases = [(task, text) for task, texts in PARAPHRASES.items() for text in texts]
    hits = sum(detect_task(text) == task for task, text in cases)
    assert hits / len(cases) >= 0.95, [(t, x, detect_task(x)) for t, x in cases if detect_task(x) != t]
    rng = np.random.default_rng(0)
    edits = [sample_edit(rng) for _ in range(400)]
    assert np.mean([detect_task(e.random_wording(rng)) == e.task for e in edits]) >= 0.99


def test_without_an_upsampler_an_edit_by_generation_is_laid_over_the_source_at_the_base_size(tiny_checkpoint,
                                                                                          monkeypatch):
    """Stage III's backtranslation edits with no upsampler: the source is kept at the size the
    drawing is made at (the base size), so an added object is laid over it there."""
    from models.pipelines import EditPipeline
    from models.pipelines.studio_pipeline import ClipOutput

    components, clip_format = load_components(tiny_checkpoint)
    pipe = EditPipeline(**{**components, "upsampler": None}, **{**clip_format, "compose_objects": True})
    pipe.set_progress_bar_config(disable=True)
    size, frames_n = pipe.config.base_size, pipe.config.num_frames
    assert pipe.clip_size == size < pipe.config.size

    def drawing(self, prompt, num_candidates=1, seed=None, **kwargs):  # a red square at the size it makes
        frames = np.full((num_candidates, frames_n, self.clip_size, self.clip_size, 3), (20, 30, 90), np.uint8)
        frames[:, :, 2:6, 2:6] = (220, 30, 30)
        audio = np.zeros((num_candidates, self.config.num_samples), np.float32)
        return ClipOutput(frames=frames, audio=audio, seeds=[seed], fps=self.config.fps,
                          sample_rate_hz=self.config.sample_rate_hz, task="generate")

    monkeypatch.setattr(GeneratePipeline, "__call__", drawing)
    source = np.full((frames_n, pipe.config.size, pipe.config.size, 3), (20, 30, 90), np.uint8)
    source[:, 20:28, 20:28] = (240, 220, 40)  # a yellow square at the clip format's full size
    out = pipe(source, np.zeros(pipe.config.num_samples, np.float32), "add a small red square", seed=1,
               num_inference_steps=1, upsampler_steps=1)
    assert out.task == "add" and out.frames.shape == (1, frames_n, size, size, 3)
    assert ((out.frames[0, 0] == (220, 30, 30)).all(-1)).any()  # the drawn square is there
