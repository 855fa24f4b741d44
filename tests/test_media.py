"""Media I/O: round trips, real clips in every container, odd inputs, and every way to fail."""

import os
import re
import struct
import subprocess
import zlib

import gradio
import imageio_ffmpeg
import numpy as np
import pytest
import soundfile
from PIL import Image

from studio.media import (
    Clip,
    MediaError,
    probe,
    read_image,
    read_video,
    read_wav,
    write_image,
    write_video,
    write_wav,
)

GRADIO_VIDEOS = os.path.join(os.path.dirname(gradio.__file__), "media_assets", "videos")


def smooth_frames(num_frames=16, height=64, width=64):
    """Slowly moving colour gradients: content H.264 keeps within a few levels."""
    t, y, x = np.meshgrid(np.arange(num_frames), np.arange(height), np.arange(width), indexing="ij")
    red = 128 + 100 * np.sin(2 * np.pi * (x / width + t / num_frames))
    green = 128 + 100 * np.cos(2 * np.pi * y / height)
    blue = 40 + 150 * (x + y) / (width + height)
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)  # (T, H, W, 3)


def sine(frequency_hz, duration_s, sample_rate_hz=16_000):
    times = np.arange(round(duration_s * sample_rate_hz)) / sample_rate_hz
    return (0.5 * np.sin(2 * np.pi * frequency_hz * times)).astype(np.float32)


def peak_hz(audio, sample_rate_hz=16_000):
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return np.fft.rfftfreq(len(audio), 1 / sample_rate_hz)[spectrum.argmax()]


def flat_clip(num_frames, fps, height=32, width=32):
    """Frame i is a flat grey of level 8 * i: a frame read back tells which source frame it was."""
    levels = (8 * np.arange(num_frames)).astype(np.uint8)
    frames = np.broadcast_to(levels[:, None, None, None], (num_frames, height, width, 3)).copy()
    return Clip(frames, sine(440, num_frames / fps), fps=fps)


@pytest.fixture(scope="module")
def smooth_mp4(tmp_path_factory):
    path = tmp_path_factory.mktemp("media") / "smooth.mp4"
    clip = Clip(smooth_frames(), sine(440, 2.0))
    write_video(path, clip)
    return path, clip


# ── round trips ─────────────────────────────────────────────────────────────────────────


def test_round_trip_keeps_frames_and_audio(smooth_mp4):
    path, clip = smooth_mp4
    back, notes = read_video(path, size=None)
    assert back.frames.shape == clip.frames.shape and back.fps == 8.0
    assert np.abs(back.frames.astype(float) - clip.frames).mean() < 3
    assert back.audio.shape == clip.audio.shape and back.audio.dtype == np.float32
    assert abs(peak_hz(back.audio) - 440) <= 2  # at half speed this would be 220 Hz
    assert 0.4 < np.abs(back.audio[4000:-4000]).max() < 0.6
    assert notes == []


def test_written_mp4_is_browser_playable(smooth_mp4):
    path, _ = smooth_mp4
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: playable while downloading
    assert b"avc1" in data and b"mp4a" in data
    assert b"colrnclx\x00\x01\x00\x01\x00\x01" in data  # BT.709 tags: browsers show our colours
    info = probe(path)
    assert (info.width, info.height, info.fps, info.has_audio) == (64, 64, 8.0, True)
    assert info.duration_s == pytest.approx(2.0, abs=0.1) and info.num_frames == 16


def test_audio_stays_in_sync_through_write_read_and_seek(tmp_path):
    audio = np.zeros(32_000, np.float32)
    audio[8000:8400] = 0.8 * np.sin(0.3 * np.arange(400))  # a blip at exactly 0.5 s
    write_video(tmp_path / "blip.mp4", Clip(np.zeros((16, 16, 16, 3), np.uint8), audio))
    for start_s, offset in ((0.0, 0), (0.25, 4000)):
        back, _ = read_video(tmp_path / "blip.mp4", size=None, num_frames=8, start_s=start_s)
        lag = np.correlate(back.audio, audio[7800:8600], "valid").argmax() - 7800 + offset
        assert abs(lag) <= 16, lag  # within 1 ms


def test_display_scale_upscales_by_nearest_neighbour(tmp_path):
    clip = Clip(smooth_frames(8, 16, 16), sine(440, 1.0))
    write_video(tmp_path / "big.mp4", clip, display_scale=4)
    assert (probe(tmp_path / "big.mp4").width, probe(tmp_path / "big.mp4").height) == (64, 64)
    back, _ = read_video(tmp_path / "big.mp4", size=None, num_frames=8)
    assert back.frames.shape == (8, 64, 64, 3)
    assert np.abs(back.frames[:, 1::4, 1::4].astype(float) - clip.frames).mean() < 4


def test_writes_are_atomic_and_leave_no_temp_files(tmp_path):
    write_video(tmp_path / "a.mp4", flat_clip(4, 8.0))
    write_wav(tmp_path / "a.wav", sine(440, 0.5))
    write_image(tmp_path / "a.png", smooth_frames(1)[0])
    assert sorted(os.listdir(tmp_path)) == ["a.mp4", "a.png", "a.wav"]
    with pytest.raises(MediaError, match="no_such_dir"):
        write_wav(tmp_path / "no_such_dir" / "a.wav", sine(440, 0.5))


def test_wav_and_png_round_trip(tmp_path):
    write_wav(tmp_path / "tone.wav", sine(440, 1.0))
    audio, sample_rate_hz = read_wav(tmp_path / "tone.wav")
    assert sample_rate_hz == 16_000 and audio.dtype == np.float32 and audio.shape == (16_000,)
    assert np.abs(audio - sine(440, 1.0)).max() < 1e-3
    stereo = np.stack([sine(440, 0.5), np.zeros(8000, np.float32)], axis=1)
    soundfile.write(tmp_path / "stereo.wav", stereo, 16_000)
    mono, _ = read_wav(tmp_path / "stereo.wav")
    assert mono.shape == (8000,) and np.abs(mono - stereo.mean(1)).max() < 1e-3
    frame = smooth_frames(1, 17, 33)[0]
    write_image(tmp_path / "frame.png", frame)
    assert np.array_equal(read_image(tmp_path / "frame.png"), frame)


# ── sampling in time ────────────────────────────────────────────────────────────────────


def test_resampling_picks_frames_at_the_requested_times(tmp_path):
    write_video(tmp_path / "24fps.mp4", flat_clip(24, 24.0))
    back, notes = read_video(tmp_path / "24fps.mp4", fps=8.0, num_frames=8, size=None)
    levels = back.frames.reshape(8, -1).mean(axis=1)
    assert np.abs(levels - 8 * np.arange(0, 24, 3)).max() < 3  # frame k is source frame 3k
    assert notes == ["resampled 24 fps to 8 fps"]


def test_start_s_seeks(tmp_path):
    write_video(tmp_path / "24fps.mp4", flat_clip(24, 24.0))
    back, notes = read_video(tmp_path / "24fps.mp4", fps=8.0, num_frames=2, size=None, start_s=0.5)
    assert np.abs(back.frames.reshape(2, -1).mean(axis=1) - [96, 120]).max() < 3
    assert "started at 0.5 s" in notes


def test_short_video_repeats_last_frame_and_pads_audio(tmp_path):
    write_video(tmp_path / "short.mp4", flat_clip(8, 8.0))
    back, notes = read_video(tmp_path / "short.mp4", size=None)
    assert back.frames.shape[0] == 16 and back.audio.shape == (32_000,)
    assert (back.frames[8:] == back.frames[7]).all()
    assert np.abs(back.audio[17_000:]).max() == 0 and np.abs(back.audio[:15_000]).max() > 0.4
    assert any("repeated the last frame 8 times" in n for n in notes)
    assert any("padded audio" in n for n in notes)


def test_none_keeps_native_size_fps_and_all_frames(tmp_path):
    write_video(tmp_path / "native.mp4", flat_clip(30, 10.0, height=24, width=40))
    back, notes = read_video(tmp_path / "native.mp4", fps=None, num_frames=None, size=None)
    assert back.frames.shape == (30, 24, 40, 3) and back.fps == 10.0
    assert back.audio.shape == (48_000,) and notes == []


# ── real and odd inputs ─────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("fit", ["crop", "pad"])
@pytest.mark.parametrize("name", ["a.mp4", "b.mp4", "world.mp4", "muted_b.mp4", "b.avi"])
def test_reads_gradio_sample_videos(name, fit):
    clip, notes = read_video(os.path.join(GRADIO_VIDEOS, name), fit=fit)
    assert clip.frames.shape == (16, 64, 64, 3) and clip.frames.dtype == np.uint8
    assert clip.audio.shape == (32_000,) and clip.audio.dtype == np.float32
    assert clip.frames.std() > 5  # a picture, not a blank
    assert "resampled 30 fps to 8 fps" in notes and any(n.startswith("trimmed") for n in notes)
    if fit == "pad":  # 16:9 letterboxed into a square: black bars above and below
        assert clip.frames[:, :12].max() == 0 and clip.frames[:, -12:].max() == 0
        assert any(n.startswith("letterboxed") for n in notes)
    else:
        assert any(n.startswith("centre-cropped") for n in notes)
    assert ("no audio track: silence" in notes) == (name == "muted_b.mp4")


def test_reads_gif_with_odd_size(tmp_path):
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    images = [Image.new("RGB", (33, 17), colour) for colour in colours]
    images[0].save(tmp_path / "odd.gif", save_all=True, append_images=images[1:], duration=250)
    back, notes = read_video(tmp_path / "odd.gif", fps=4.0, num_frames=4, size=None)
    assert back.frames.shape == (4, 17, 33, 3)
    assert [tuple(frame[8, 16]) for frame in back.frames] == colours
    assert "no audio track: silence" in notes
    square, _ = read_video(tmp_path / "odd.gif", size=64)
    assert square.frames.shape == (16, 64, 64, 3)


def test_odd_sized_clip_writes_and_reads(tmp_path):
    clip = Clip(smooth_frames(8, 17, 33), sine(440, 1.0))
    write_video(tmp_path / "odd.mp4", clip, display_scale=3)
    info = probe(tmp_path / "odd.mp4")
    assert (info.width, info.height) == (100, 52)  # 99x51, padded to even for yuv420p
    back, _ = read_video(tmp_path / "odd.mp4", num_frames=8)
    assert back.frames.shape == (8, 64, 64, 3)


def test_vertical_video_is_cropped_from_the_centre(tmp_path):
    frames = np.zeros((8, 96, 48, 3), np.uint8)
    frames[:, 24:72] = 200  # only the middle square is bright
    write_video(tmp_path / "tall.mp4", Clip(frames, sine(440, 1.0)))
    back, notes = read_video(tmp_path / "tall.mp4", num_frames=8, size=32)
    assert back.frames.shape == (8, 32, 32, 3) and back.frames[:, 2:-2].min() > 180
    assert "centre-cropped 48x96 to 48x48, resized 48x48 to 32x32" in notes
    padded, _ = read_video(tmp_path / "tall.mp4", num_frames=8, size=32, fit="pad")
    assert padded.frames[:, :, :6].max() == 0 and padded.frames[:, 12:20, 10:22].min() > 180


def test_rotated_phone_video_reads_upright(tmp_path):
    frames = np.zeros((8, 32, 64, 3), np.uint8)
    frames[:, :, :32] = 200  # left half bright
    write_video(tmp_path / "flat.mp4", Clip(frames, sine(440, 1.0)))
    remux = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-display_rotation", "90",
             "-i", str(tmp_path / "flat.mp4"), "-c", "copy", str(tmp_path / "phone.mp4")]
    subprocess.run(remux, check=True)
    info = probe(tmp_path / "phone.mp4")
    assert (info.width, info.height) == (32, 64)
    back, _ = read_video(tmp_path / "phone.mp4", num_frames=8, size=None)
    assert back.frames.shape == (8, 64, 32, 3)
    assert back.frames[:, 36:].min() > 180 and back.frames[:, :28].max() < 20  # turned 90° ccw


# ── failures ────────────────────────────────────────────────────────────────────────────


def broken_files(directory, smooth_mp4):
    """(file, what read_video must complain about) for each way a video file can be bad."""
    (directory / "empty.mp4").write_bytes(b"")
    (directory / "text.mp4").write_text("this is not a video\n" * 20)
    data = smooth_mp4.read_bytes()
    (directory / "half.mp4").write_bytes(data[: len(data) // 2])
    (directory / "no_index.mp4").write_bytes(data[data.index(b"mdat") - 4 :])  # moov cut off
    write_wav(directory / "audio_only.wav", sine(440, 0.5))
    zero_frames = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                   "color=s=16x16", "-frames:v", "0", str(directory / "zero_frames.mp4")]
    subprocess.run(zero_frames, check=True)
    return [
        (directory / "missing.mp4", "no such file"),
        (directory / "empty.mp4", "empty"),
        (directory / "text.mp4", "Invalid data"),
        (directory / "half.mp4", "truncated or damaged"),
        (directory / "no_index.mp4", "moov atom not found"),
        (directory / "audio_only.wav", "no video stream"),
        (directory / "zero_frames.mp4", "no video stream"),
    ]


def test_every_bad_video_raises_media_error_naming_the_file(tmp_path, smooth_mp4):
    for path, reason in broken_files(tmp_path, smooth_mp4[0]):
        with pytest.raises(MediaError, match=re.escape(path.name)) as error:
            read_video(path)
        assert reason in str(error.value), str(error.value)


def test_start_past_the_end_has_no_frames(smooth_mp4):
    with pytest.raises(MediaError, match=r"smooth\.mp4.*no video frames"):
        read_video(smooth_mp4[0], start_s=5.0)


def test_bad_arguments_are_value_errors(smooth_mp4):
    for kwargs in ({"fit": "stretch"}, {"size": 0}, {"fps": -1.0}, {"num_frames": 0}):
        with pytest.raises(ValueError):
            read_video(smooth_mp4[0], **kwargs)
    with pytest.raises(ValueError, match="uint8"):
        write_video("x.mp4", Clip(np.zeros((2, 8, 8, 3), np.float32), sine(440, 0.25)))


# ── images ──────────────────────────────────────────────────────────────────────────────


def save(path, image):
    image.save(path)
    return path


def test_image_modes(tmp_path):
    rgb = read_image(save(tmp_path / "rgb.png", Image.new("RGB", (5, 3), (10, 20, 30))))
    assert rgb.shape == (3, 5, 3) and rgb.dtype == np.uint8 and tuple(rgb[1, 1]) == (10, 20, 30)
    rgba = read_image(save(tmp_path / "rgba.png", Image.new("RGBA", (4, 4), (200, 100, 50, 128))))
    assert tuple(rgba[0, 0]) == (100, 50, 25)  # composited on black
    gray = read_image(save(tmp_path / "l.png", Image.new("L", (4, 4), 77)))
    assert tuple(gray[0, 0]) == (77, 77, 77)
    palette = Image.new("RGB", (4, 4), (0, 128, 255)).convert("P", palette=Image.Palette.ADAPTIVE)
    assert tuple(read_image(save(tmp_path / "p.png", palette))[2, 2]) == (0, 128, 255)
    deep = Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16))
    assert deep.mode == "I;16"
    assert read_image(save(tmp_path / "deep.png", deep))[0, :, 0].tolist() == [0, 128, 255]
    bits = read_image(save(tmp_path / "bits.png", Image.new("1", (3, 3), 1)))
    assert bits.min() == 255


def test_tiny_image_and_fit(tmp_path):
    dot = read_image(save(tmp_path / "dot.png", Image.new("RGB", (1, 1), (9, 99, 199))), size=8)
    assert dot.shape == (8, 8, 3) and (dot == (9, 99, 199)).all()
    wide = read_image(save(tmp_path / "wide.png", Image.new("RGB", (40, 20), (255, 255, 255))),
                      size=20, fit="pad")
    assert wide.shape == (20, 20, 3) and wide[:4].max() == 0 and wide[6:14].min() == 255


def png_claiming(width, height):
    """A tiny PNG whose header claims width x height pixels: a decompression bomb's calling card."""
    def chunk(kind, payload):
        crc = struct.pack(">I", zlib.crc32(kind + payload))
        return struct.pack(">I", len(payload)) + kind + payload + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def test_bad_images_raise_media_error_naming_the_file(tmp_path):
    (tmp_path / "bomb.png").write_bytes(png_claiming(20_000, 20_000))
    (tmp_path / "noise.png").write_bytes(np.random.default_rng(0).bytes(500))
    good = save(tmp_path / "good.png", Image.fromarray(smooth_frames(1)[0]))
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:200])
    (tmp_path / "empty.png").write_bytes(b"")
    cases = {"bomb.png": "decompression bomb", "noise.png": "not a readable image",
             "cut.png": "not a readable image", "empty.png": "empty", "gone.png": "no such file"}
    for name, reason in cases.items():
        with pytest.raises(MediaError, match=re.escape(name)) as error:
            read_image(tmp_path / name)
        assert reason in str(error.value), str(error.value)
    with pytest.raises(MediaError, match="noise.png"):
        read_wav(tmp_path / "noise.png")
