"""Data preparation on a raw folder built here from world clips and footage shipped in packages.

The folder (once per module) holds distinct footage — Shapes World clips with caption
sidecars, gradio's real clips (480x270 to 1920x1080, with and without audio, an AVI), and
scikit-image photos made into slow pans — plus planted exact copies, re-encoded, resized,
trimmed and recoloured near-duplicates, blurred and dark clips, unsafe names and captions,
corrupt, truncated, empty and non-media files. The acceptance numbers are asserted on it.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import gradio
import imageio_ffmpeg
import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image, ImageFilter
from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessorPil, BlipProcessor

from studio import media
from studio.prepare import __main__ as prepare_main
from studio.prepare import pipeline
from studio.prepare.captions import filename_caption
from studio.prepare.config import PrepareConfig
from studio.prepare.dedup import phash
from studio.prepare.journal import JOURNAL_DIR
from studio.prepare.quality import sharpness
from studio.prepare.report import STAGES
from studio.prepare.safety import parse_descriptions, text_reason, zero_shot_reason
from studio.world.captions import caption
from studio.world.dataset import write_world_dataset
from studio.world.render import render_clip
from studio.world.scene import sample_scene
from tests.tiny_models import TINY_TOWER, save_tiny_clip, word_tokenizer

REPO = Path(__file__).resolve().parents[1]
GRADIO_VIDEOS = Path(gradio.__file__).parent / "media_assets" / "videos"
PAN_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "coins", "camera", "retina", "immunohistochemistry")
BLUR_PHOTOS = ("gravel", "clock", "colorwheel")
DARK_PHOTOS = ("grass", "page", "text")

# ── building the raw folder ───────────────────────────────────────────────────────────────


@dataclass
class Planted:
    groups: dict = field(default_factory=dict)  # footage -> paths of all its copies: exactly one must be kept
    blurred: list = field(default_factory=list)
    dark: list = field(default_factory=list)
    broken: list = field(default_factory=list)  # corrupt, truncated, empty and non-media files
    unsafe: list = field(default_factory=list)

    def add(self, footage, path):
        self.groups.setdefault(footage, []).append(path)

    @property
    def clips(self) -> int:
        return sum(map(len, self.groups.values())) + len(self.blurred) + len(self.dark) + len(self.unsafe)


def ffmpeg(*args):
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *map(str, args)], check=True)


def photo(name):
    pixels = getattr(skimage.data, name)()
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, -1)
    return np.ascontiguousarray(pixels[..., :3])


def tone(seconds, hz):
    t = np.arange(int(seconds * 16_000)) / 16_000
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def pan_clip(pixels, seconds=2.5, fps=12, out=(192, 144), with_audio=True, blur=0.0, gain=1.0):
    """A slow horizontal pan: the window slides 15 % of the photo's width over the clip."""
    height, width = pixels.shape[:2]
    window_w = min(width - 1, int(height * 0.8 * out[0] / out[1]))
    window_h = int(window_w * out[1] / out[0])
    travel = min(width - window_w, int(0.15 * width))
    image, count, frames = Image.fromarray(pixels), int(seconds * fps), []
    for k in range(count):
        left = round(travel * k / (count - 1))
        frame = image.crop((left, 0, left + window_w, window_h)).resize(out, Image.Resampling.LANCZOS)
        frame = frame.filter(ImageFilter.GaussianBlur(blur)) if blur else frame
        frames.append(np.clip(np.asarray(frame) * gain, 0, 255).astype(np.uint8))
    audio = tone(seconds, 440) if with_audio else np.zeros(0, np.float32)
    return media.Clip(np.stack(frames), audio, fps=fps)


def world_clip(seed, size, with_audio=True, blur=0.0, gain=1.0):
    scene = sample_scene(np.random.default_rng([seed, 7]))
    clip = render_clip(scene, size)
    frames = clip.frames
    if blur:
        frames = np.stack([np.asarray(Image.fromarray(f).filter(ImageFilter.GaussianBlur(blur))) for f in frames])
    frames = np.clip(frames * gain, 0, 255).astype(np.uint8)
    return media.Clip(frames, clip.audio if with_audio else np.zeros(0, np.float32), clip.fps), caption(scene)


def _write_world(root, k):
    clip, text = world_clip(k, (64, 96, 128)[k % 3], with_audio=k % 4 != 3)
    path = root / "world" / f"scene_{k:02d}.mp4"
    media.write_video(path, clip)
    if k == 5:
        path.with_suffix(".json").write_text(json.dumps({"caption": text}))
    else:
        path.with_suffix(".txt").write_text(text + "\n")


NEAR_DUPLICATES = [  # footage, source, copy name, ffmpeg options
    ("world2", "world/scene_02.mp4", "scene_02_lowq.mkv", ["-c:v", "libx264", "-crf", "32"]),
    ("coffee", "photos/coffee.mp4", "coffee.avi", ["-c:v", "mpeg4", "-q:v", "6", "-c:a", "mp3"]),
    ("rocket", "photos/rocket.mp4", "rocket.webm",
     ["-c:v", "libvpx", "-deadline", "realtime", "-b:v", "300k", "-c:a", "libvorbis"]),
    ("chelsea", "photos/chelsea.mp4", "chelsea_small.mp4", ["-vf", "scale=96:72"]),
    ("world4", "world/scene_04.mp4", "scene_04_big.mp4", ["-vf", "scale=192:192"]),
    ("slate", "gradio/a.mp4", "a_360p.mp4", ["-vf", "scale=640:360"]),
    ("coins", "photos/coins.mp4", "coins_trimmed.mp4", ["-ss", "0.5"]),
    ("earth", "gradio/b.mp4", "b_tail.mp4", ["-ss", "0.7"]),
    ("camera", "photos/camera.mp4", "camera_graded.mp4", ["-vf", "eq=brightness=0.05:contrast=1.1"]),
    ("world10", "world/scene_10.mp4", "scene_10_warm.mp4", ["-vf", "hue=h=5:s=1.1"]),
    ("immunohistochemistry", "photos/immunohistochemistry.mp4", "ihc_saturated.mp4", ["-vf", "eq=saturation=1.2"]),
]
EXACT_COPIES = [("world1", "world/scene_01.mp4"), ("earth", "gradio/b.avi"), ("astronaut", "photos/astronaut.mp4"),
                ("world7", "world/scene_07.mp4"), ("cell", "photos/cell.png")]


def build_raw_folder(root: Path) -> Planted:
    truth = Planted()
    for folder in ("world", "gradio", "photos", "copies", "broken", "misc"):
        (root / folder).mkdir(parents=True)
    jobs = []  # independent writes, run on two threads (the work is in ffmpeg subprocesses)

    # Distinct footage.
    for k in range(12):
        jobs.append((_write_world, root, k))
        truth.add(f"world{k}", f"world/scene_{k:02d}.mp4")
    for name in ("a.mp4", "b.mp4", "muted_b.mp4", "b.avi", "world.mp4"):
        shutil.copy(GRADIO_VIDEOS / name, root / "gradio" / name)
        # b, muted_b, b.avi and world (b looped) are one rotating globe: gradio's own near-duplicates.
        truth.add("slate" if name == "a.mp4" else "earth", f"gradio/{name}")
    for k, name in enumerate(PAN_PHOTOS):
        jobs.append((lambda n, a: media.write_video(root / "photos" / f"{n}.mp4", pan_clip(photo(n), with_audio=a)),
                     name, k % 3 != 0))
        truth.add(name, f"photos/{name}.mp4")
    Image.fromarray(photo("cell")).save(root / "photos" / "cell.png")
    truth.add("cell", "photos/cell.png")
    Image.fromarray(skimage.data.stereo_motorcycle()[0]).save(root / "photos" / "motorcycle.jpg", quality=90)
    truth.add("motorcycle", "photos/motorcycle.jpg")

    # Blurred and dark clips of footage found nowhere else; unsafe by caption and by file name.
    for name in BLUR_PHOTOS:
        jobs.append((lambda n: media.write_video(root / "misc" / f"{n}_soft.mp4", pan_clip(photo(n), blur=3.0)), name))
        truth.blurred.append(f"misc/{name}_soft.mp4")
    for name in DARK_PHOTOS:
        jobs.append((lambda n: media.write_video(root / "misc" / f"{n}_night.mp4", pan_clip(photo(n), gain=0.12)),
                     name))
        truth.dark.append(f"misc/{name}_night.mp4")
    for k in range(2):
        jobs.append((lambda k: media.write_video(root / "misc" / f"world_soft_{k}.mp4",
                                                 world_clip(100 + k, 128, blur=4.0)[0]), k))
        jobs.append((lambda k: media.write_video(root / "misc" / f"world_night_{k}.mp4",
                                                 world_clip(200 + k, 96, gain=0.12)[0]), k))
        truth.blurred.append(f"misc/world_soft_{k}.mp4")
        truth.dark.append(f"misc/world_night_{k}.mp4")
    jobs.append((lambda: media.write_video(root / "misc" / "clip_300.mp4", world_clip(300, 64)[0]),))
    (root / "misc" / "clip_300.txt").write_text("a man firing a gun at a crowd\n")
    jobs.append((lambda: media.write_video(root / "misc" / "gore_compilation.mp4", world_clip(301, 64)[0]),))
    truth.unsafe += ["misc/clip_300.mp4", "misc/gore_compilation.mp4"]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda job: job[0](*job[1:]), jobs))

    # Copies of the footage above: byte-exact, then re-encoded, resized, trimmed, recoloured.
    for footage, source in EXACT_COPIES:
        target = f"copies/{Path(source).stem} (copy){Path(source).suffix}"
        shutil.copy(root / source, root / target)
        truth.add(footage, target)

    def near_copy(source, target, options):
        seek = options[:2] if options[0] == "-ss" else []
        ffmpeg(*seek, "-i", root / source, *options[len(seek):], root / "copies" / target)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda job: near_copy(*job[1:]), NEAR_DUPLICATES))
    for footage, _, target, _ in NEAR_DUPLICATES:
        truth.add(footage, f"copies/{target}")

    rng = np.random.default_rng(0)
    good = (root / "photos" / "astronaut.mp4").read_bytes()
    broken = {
        "broken/random.mp4": rng.bytes(50_000),
        "broken/truncated.mp4": good[: len(good) * 2 // 5],
        "broken/empty.mov": b"",
        "broken/text_as_video.mkv": b"this is not a video\n" * 20,
        "broken/broken.png": b"\x89PNG\r\n\x1a\n" + rng.bytes(2_000),
        "misc/README.md": b"# my clips\n",
        "misc/notes.pdf": b"%PDF-1.4 not really\n",
        "misc/lonely.txt": b"a caption with no video\n",
        "misc/.DS_Store": rng.bytes(300),
    }
    for path, data in broken.items():
        (root / path).write_bytes(data)
        truth.broken.append(path)
    return truth


def snapshot(root: Path) -> dict:
    """Relative path -> sha256 of every file under root."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def modification_times(root: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    return root, build_raw_folder(root)


@dataclass
class Run:
    out: Path
    result: pipeline.PrepareResult
    seconds: float
    manifest: list
    rejected: dict  # source -> rejection
    before: dict  # snapshot of the input before the run


@pytest.fixture(scope="module")
def prepared(raw, tmp_path_factory):
    root, _ = raw
    before = snapshot(root)
    out = tmp_path_factory.mktemp("dataset")
    started = time.perf_counter()
    result = pipeline.prepare(root, out, PrepareConfig(), workers=2)
    seconds = time.perf_counter() - started
    print(f"\nprepare: {seconds:.1f} s for {len(before)} files")
    rejected = {r["source"]: r for r in read_jsonl(out / "rejected.jsonl")}
    return Run(out, result, seconds, read_jsonl(out / "manifest.jsonl"), rejected, before)


# ── acceptance ────────────────────────────────────────────────────────────────────────────


def test_raw_folder_has_at_least_40_clips(raw):
    assert raw[1].clips >= 40


def test_duplicates_removed_and_distinct_clips_kept(raw, prepared):
    truth, kept = raw[1], {r["source"] for r in prepared.manifest}
    kept_per_group = {name: sum(p in kept for p in paths) for name, paths in truth.groups.items()}
    planted = sum(len(paths) - 1 for paths in truth.groups.values())
    removed = sum(len(truth.groups[name]) - max(count, 1) for name, count in kept_per_group.items())
    lost = [name for name, count in kept_per_group.items() if count == 0]
    print(f"\nduplicates removed {removed}/{planted}; distinct clips lost {len(lost)}/{len(truth.groups)}")
    assert planted >= 15
    assert removed / planted >= 0.9
    assert len(lost) / len(truth.groups) <= 0.05, lost
    for name, paths in truth.groups.items():
        for path in paths:
            if path not in kept and kept_per_group[name]:
                assert prepared.rejected[path]["stage"] == "dedup", (path, prepared.rejected.get(path))


def test_best_copy_is_kept(prepared):
    kept = {r["source"] for r in prepared.manifest}
    assert "copies/chelsea_small.mp4" not in kept and "photos/chelsea.mp4" in kept  # higher resolution wins
    assert "copies/scene_04_big.mp4" in kept  # an upscaled copy is the higher resolution one
    assert "higher resolution" in prepared.rejected["world/scene_04.mp4"]["reason"]


def test_blurred_and_dark_clips_rejected_with_few_false_rejects(raw, prepared):
    truth = raw[1]
    quality = {source for source, r in prepared.rejected.items() if r["stage"] == "quality"}
    caught = [p for p in truth.blurred + truth.dark if p in quality]
    good = [p for paths in truth.groups.values() for p in paths]
    false_rejects = [p for p in good if p in quality]
    print(f"\nblurred/dark rejected {len(caught)}/{len(truth.blurred) + len(truth.dark)}; "
          f"false rejects {len(false_rejects)}/{len(truth.groups)}")
    assert len(caught) / (len(truth.blurred) + len(truth.dark)) >= 0.9
    assert len(false_rejects) / len(truth.groups) <= 0.05, false_rejects
    assert all("blurred" in prepared.rejected[p]["reason"] for p in truth.blurred if p in quality)
    assert all("too dark" in prepared.rejected[p]["reason"] for p in truth.dark if p in quality)


def test_every_broken_file_is_listed_with_a_reason(raw, prepared):
    for path in raw[1].broken:
        assert path in prepared.rejected, path
        assert prepared.rejected[path]["stage"] in ("discover", "keyframes")
        assert len(prepared.rejected[path]["reason"]) > 10
    assert "truncated" in prepared.rejected["broken/truncated.mp4"]["reason"] \
        or "decode" in prepared.rejected["broken/truncated.mp4"]["reason"]
    assert "empty" in prepared.rejected["broken/empty.mov"]["reason"]
    assert "not a video or image" in prepared.rejected["misc/README.md"]["reason"]


def test_unsafe_caption_and_file_name_rejected(prepared):
    assert "gun" in prepared.rejected["misc/clip_300.mp4"]["reason"]
    assert "gore" in prepared.rejected["misc/gore_compilation.mp4"]["reason"]
    assert {prepared.rejected[p]["stage"] for p in ("misc/clip_300.mp4", "misc/gore_compilation.mp4")} == {"safety"}


def test_input_folder_is_byte_identical_and_second_run_does_no_work(raw, prepared):
    root = raw[0]
    outputs_before = modification_times(prepared.out)
    again = pipeline.prepare(root, prepared.out, PrepareConfig(), workers=2)
    assert not again.did_work and again.message.startswith("nothing to do")
    assert {row["stage"]: row["done"] for row in again.rows}["keyframes"] == 0
    changed = [p for p, t in modification_times(prepared.out).items() if outputs_before.get(p) != t]
    assert all(JOURNAL_DIR + "/runs" in p.as_posix() for p in changed), changed
    assert snapshot(root) == prepared.before


# ── the output trains like world output ───────────────────────────────────────────────────


def test_layout_and_records_match_world_output(prepared, tmp_path):
    write_world_dataset(tmp_path / "world", count=2, seed=0, workers=1)
    world_keys = {r["kind"]: set(r) - {"scene"} for r in read_jsonl(tmp_path / "world" / "manifest.jsonl")}
    kinds = set()
    for record in prepared.manifest:
        kinds.add(record["kind"])
        assert set(record) - {"source", "caption_source", "notes"} == world_keys[record["kind"]]
        assert record["task"] == "generate" and record["id"] == f"{record['kind']}/{record['id'].split('/')[1]}"
        assert record["video"].startswith(f"{record['kind']}_pairs/video_")
        assert (prepared.out / record["video"][:-4]).with_suffix(".txt").read_text().strip() == record["caption"]
    assert kinds == {"t2v", "i2v"}
    assert [r["source"] for r in prepared.manifest] == sorted(r["source"] for r in prepared.manifest)


def test_clips_have_the_world_clip_format(prepared):
    for record in prepared.manifest[:6]:
        clip, _ = media.read_video(prepared.out / record["video"], fps=None, num_frames=None, size=None)
        assert clip.frames.shape == (16, 64, 64, 3) and clip.fps == 8
        audio, rate = media.read_wav(prepared.out / record["audio"])
        assert rate == 16_000 and audio.shape == (32_000,)
        if record["kind"] == "i2v":
            assert media.read_image(prepared.out / record["image"]).shape == (64, 64, 3)
    silent = next(r for r in prepared.manifest if r["source"] == "world/scene_03.mp4")  # written without audio
    assert "no audio track: silence" in silent["notes"]
    assert not media.read_wav(prepared.out / silent["audio"])[0].any()


def test_captions_say_where_they_came_from(prepared):
    by_source = {r["source"]: r for r in prepared.manifest}
    world = by_source["world/scene_00.mp4"]
    assert world["caption_source"] == "sidecar" and world["caption"].endswith("background")
    assert by_source["world/scene_05.mp4"]["caption_source"] == "sidecar"  # from the .json sidecar
    coffee = by_source["photos/coffee.mp4"]
    assert (coffee["caption"], coffee["caption_source"]) == ("coffee", "filename")
    cell = next(r for source, r in by_source.items() if source.endswith(".png"))
    assert cell["notes"][0].startswith("still image")


def test_summary_tables_and_contact_sheet(prepared):
    summary = json.loads((prepared.out / "summary.json").read_text())
    assert [row["stage"] for row in summary["stages"]] == list(STAGES)
    assert sum(row["rejected"] for row in summary["stages"]) == len(prepared.rejected)
    assert summary["stages"][-1]["out"] == len(prepared.manifest) == summary["kept"]
    assert "keyframes" in (prepared.out / "summary.txt").read_text()
    sheet = media.read_image(prepared.out / "contact_sheet.png")
    assert sheet.shape[0] > 64 * 4 and sheet.shape[1] > 64 * 3 * 5
    print(f"\nprepare took {prepared.seconds:.1f} s")


# ── resuming, options and errors, on a small folder ───────────────────────────────────────

SMALL = ["world/scene_02.mp4", "world/scene_02.txt", "copies/scene_02_lowq.mkv", "world/scene_03.mp4",
         "photos/chelsea.mp4", "copies/chelsea_small.mp4", "photos/coffee.mp4", "broken/random.mp4"]


@pytest.fixture
def small(raw, tmp_path):
    root = tmp_path / "raw"
    for path in SMALL:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(raw[0] / path, root / path)
    return root


def test_killed_run_resumes_without_redoing_finished_work(small, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_write, written = pipeline.write_clip, []

    def write_then_die(*args):
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(real_write(*args))
        return written[-1]

    monkeypatch.setattr(pipeline, "write_clip", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        pipeline.prepare(small, out, PrepareConfig(), workers=1)
    monkeypatch.setattr(pipeline, "write_clip", real_write)
    result = pipeline.prepare(small, out, PrepareConfig(), workers=1)
    rows = {row["stage"]: row for row in result.rows}
    assert rows["keyframes"]["done"] == 0 and rows["keyframes"]["reused"] == 7
    assert rows["write"]["reused"] == 2 and rows["write"]["done"] == rows["write"]["out"] - 2 == 2


def test_changed_clip_length_rewrites_clips_but_reuses_analysis(small, tmp_path):
    out = tmp_path / "out"
    pipeline.prepare(small, out, PrepareConfig(), workers=1)
    result = pipeline.prepare(small, out, PrepareConfig(seconds=1.0, size=32), workers=1)
    rows = {row["stage"]: row for row in result.rows}
    assert rows["keyframes"]["done"] == 0 and rows["write"]["reused"] == 0 and rows["write"]["done"] == 4
    clip, _ = media.read_video(out / read_jsonl(out / "manifest.jsonl")[0]["video"], fps=None, num_frames=None,
                               size=None)
    assert clip.frames.shape == (8, 32, 32, 3)


def test_size_rule_rejects_high_bitrate_segments(small, tmp_path):
    out = tmp_path / "out"
    result = pipeline.prepare(small, out, PrepareConfig(max_clip_mb=0.02), workers=1)
    reasons = [r["reason"] for r in result.rejected if r["stage"] == "size"]
    assert reasons and all("MB at the source's bitrate" in reason for reason in reasons)


def test_refuses_output_inside_input_or_a_foreign_folder(small, tmp_path):
    with pytest.raises(ValueError, match="inside --input"):
        pipeline.prepare(small, small / "out", PrepareConfig(), workers=1)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "manifest.jsonl").write_text("{}\n")
    with pytest.raises(ValueError, match="not written by prepare"):
        pipeline.prepare(small, foreign, PrepareConfig(), workers=1)
    assert prepare_main.main(["--input", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2


def test_a_folder_with_nothing_usable_gives_an_empty_dataset(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "notes.txt").write_text("no media here\n")
    result = pipeline.prepare(tmp_path / "raw", tmp_path / "out", PrepareConfig(), workers=1)
    assert result.kept == 0 and [r["stage"] for r in result.rejected] == ["discover"]
    assert (tmp_path / "out" / "manifest.jsonl").read_text() == ""
    assert media.read_image(tmp_path / "out" / "contact_sheet.png").shape[2] == 3


def test_command_line_runs_with_options(small, tmp_path, capsys):
    unsafe = tmp_path / "unsafe.txt"
    unsafe.write_text("# mine\nhot beverages: coffee, tea\n")
    code = prepare_main.main(["--input", str(small), "--out", str(tmp_path / "out"), "--seconds", "1", "--workers",
                              "1", "--unsafe", str(unsafe), "--set", "blur_min_sharpness=0.3"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "stage" in printed and "kept" in printed
    rejected = {r["source"]: r for r in read_jsonl(tmp_path / "out" / "rejected.jsonl")}
    assert "hot beverages" in rejected["photos/coffee.mp4"]["reason"]


# ── stage functions ───────────────────────────────────────────────────────────────────────


def test_sharpness_falls_with_blur_and_ignores_flat_frames():
    frame = photo("astronaut")[:128, :128]
    soft = np.asarray(Image.fromarray(frame).filter(ImageFilter.GaussianBlur(2)))
    assert sharpness(frame) > 5 * sharpness(soft)
    assert sharpness(np.full((64, 64, 3), 90, np.uint8)) is None


def test_phash_survives_resizing_and_colour_shifts():
    frame = photo("coffee")
    small = np.asarray(Image.fromarray(frame).resize((150, 100)))
    warmer = np.clip(frame * np.array([1.1, 1.0, 0.9]), 0, 255).astype(np.uint8)
    other = photo("rocket")
    distance = lambda a, b: bin(phash(a) ^ phash(b)).count("1")  # noqa: E731
    assert distance(frame, small) <= 6 and distance(frame, warmer) <= 6 and distance(frame, other) > 16


def test_text_safety_matches_whole_words_only():
    config = PrepareConfig()
    assert text_reason("Beach_Gunfight.mp4", config, "name") is None  # one word, not "gun"
    assert text_reason("skills_demo.mp4", config, "name") is None  # not "kill"
    assert "gun" in text_reason("my gun collection", config, "caption")
    assert parse_descriptions("a: x, y\nb\n") == {"a": ("x", "y"), "b": ("b",)}
    with pytest.raises(ValueError):
        parse_descriptions("# nothing\n")


def test_zero_shot_flags_only_a_confident_unsafe_winner():
    config = PrepareConfig(unsafe={"gore": ("gore",)}, safe=("a cat",))
    prompts = np.eye(2, 4)  # (P, D): prompt 0 unsafe, prompt 1 safe
    assert "gore" in zero_shot_reason(np.array([[0, 1, 0, 0], [1, 0, 0, 0]], float), prompts, 100.0, config)
    assert zero_shot_reason(np.array([[0, 1.0, 0, 0]]), prompts, 100.0, config) is None
    config.unsafe_min_probability = 0.9
    assert zero_shot_reason(np.array([[0.8, 0.6, 0, 0]]), prompts, 1.0, config) is None  # unsafe wins, unsure


def test_filename_captions_drop_camera_noise():
    assert filename_caption("holiday/IMG_2031.MOV") == "holiday"
    assert filename_caption("clips/redBall_bouncing-02.mp4") == "red ball bouncing"
    assert filename_caption("123.mp4") == "a video"


# ── pretrained models by path: tiny ones built here, never downloaded ─────────────────────

WORDS = "a photo of red blue circle square scene shapes on background ordinary cat coffee".split()


def save_tiny_blip(folder):
    tokenizer = word_tokenizer(WORDS, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[DEC]"], "[CLS] $A [SEP]",
                               pad_token="[PAD]",
                               unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", bos_token="[DEC]")
    text = dict(TINY_TOWER, vocab_size=len(tokenizer), max_position_embeddings=64, pad_token_id=0, bos_token_id=4,
                sep_token_id=3, eos_token_id=3, encoder_hidden_size=32)
    torch.manual_seed(0)
    config = BlipConfig(text_config=text, vision_config=dict(TINY_TOWER, image_size=32, patch_size=8),
                        projection_dim=24)
    BlipForConditionalGeneration(config).save_pretrained(folder)
    processor = BlipProcessor(image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}),
                              tokenizer=tokenizer)
    processor.save_pretrained(folder)


def test_clip_model_finds_duplicates_by_embedding_and_scores_safety(small, tmp_path, no_network):
    save_tiny_clip(tmp_path / "clip", WORDS)
    # Hashes off (no distance is <= -1): only identical bytes or the embeddings can match.
    config = PrepareConfig(clip_model=str(tmp_path / "clip"), hash_max_distance=-1, embedding_min_cosine=0.9995)
    result = pipeline.prepare(small, tmp_path / "out", config, workers=1)
    dedup = {r["source"]: r["reason"] for r in result.rejected if r["stage"] == "dedup"}
    assert set(dedup) == {"copies/scene_02_lowq.mkv", "copies/chelsea_small.mp4"}
    assert all("CLIP cosine" in reason for reason in dedup.values())

    config.safe, config.unsafe_min_probability = (), 0.0  # every frame's winner is now an unsafe description
    result = pipeline.prepare(small, tmp_path / "out", config, workers=1)
    assert result.kept == 0
    assert all("zero-shot" in r["reason"] for r in result.rejected if r["stage"] == "safety")

    with pytest.raises(ValueError, match="not a model folder"):
        pipeline.prepare(small, tmp_path / "other", PrepareConfig(clip_model=str(tmp_path)), workers=1)


def test_caption_model_captions_clips_without_sidecars(small, tmp_path, no_network):
    save_tiny_blip(tmp_path / "blip")
    config = PrepareConfig(caption_model=str(tmp_path / "blip"), caption_max_words=6)
    result = pipeline.prepare(small, tmp_path / "out", config, workers=1)
    records = {r["source"]: r for r in read_jsonl(tmp_path / "out" / "manifest.jsonl")}
    assert records["world/scene_02.mp4"]["caption_source"] == "sidecar"
    generated = [r for r in records.values() if r["caption_source"] == "model"]
    assert len(generated) == result.kept - 1 and all(set(r["caption"].split()) <= set(WORDS) for r in generated)

    config.unsafe = {"what the tiny model said": (records["photos/chelsea.mp4"]["caption"],)}
    result = pipeline.prepare(small, tmp_path / "out", config, workers=1)
    rejected = {r["source"]: r for r in result.rejected}
    assert rejected["photos/chelsea.mp4"]["stage"] == "captions"
    assert "generated caption" in rejected["photos/chelsea.mp4"]["reason"]
    assert "world/scene_02.mp4" not in rejected


# ── Accelerate: two ranks give the same dataset as one ────────────────────────────────────


@pytest.mark.slow
def test_two_accelerate_processes_match_one(small, tmp_path):
    environment = {**os.environ, "ACCELERATE_USE_CPU": "true", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    one = [sys.executable, "-m", "studio.prepare", "--input", str(small), "--out", str(tmp_path / "one"),
           "--workers", "1"]
    two = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "studio.prepare",
           "--input", str(small), "--out", str(tmp_path / "two"), "--workers", "1"]
    for command in (one, two):
        finished = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr[-2000:]
    assert "kept 4 of 7" in finished.stdout
    for name in ("manifest.jsonl", "rejected.jsonl"):
        assert (tmp_path / "one" / name).read_text() == (tmp_path / "two" / name).read_text()
    assert len(read_jsonl(tmp_path / "two" / "manifest.jsonl")) == 4
