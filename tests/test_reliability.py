"""Bad input through the command line (one `error:` line, exit 2, no traceback, or a clip with
a notice) and the gaps the app's own tests leave; the generation-time safety filter on both.

The CLI runs in-process through `studio.cli.main`, the function `python -m studio` calls, so
an escaping exception fails the test as a traceback would; `tests/test_cli.py` covers the
subprocess itself.
"""

import json
import shutil
import subprocess
from pathlib import Path

import gradio as gr
import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from models.pipelines import load_components, save_components
from studio import media
from studio.cli import main
from studio.prompts import MAX_PROMPT_CHARS, SafetyFilter
from studio.ui.examples import example_clips, example_prompts
from studio.ui.service import Studio
from studio.world.captions import caption
from studio.world.edits import sample_edit
from tests.test_app import ffmpeg_clip
from tests.test_media import png_claiming

FAST = ("--steps", 1)


def cli(capsys, *args) -> tuple[int, str]:
    code = main([*map(str, args)])
    return code, capsys.readouterr().err


def assert_refused(code: int, stderr: str, message: str) -> None:
    assert code == 2 and "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], stderr


def records(folder) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Every awkward input, made once: videos kept tiny in pixels (the 4K one has two frames)."""
    folder = tmp_path_factory.mktemp("bad-input")
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    made = {
        "ten-minutes": ffmpeg_clip(folder / "ten-minutes.mp4", "color=c=navy:s=16x16:r=1", 600, tone=False),
        "4k": ffmpeg_clip(folder / "4k.mp4", "color=c=red:s=3840x2160:r=1", 2, tone=False),
        "vertical": ffmpeg_clip(folder / "vertical.mp4", "testsrc=s=90x160:r=8", 3),
        "one-frame": ffmpeg_clip(folder / "one-frame.mp4", "testsrc=s=64x64:r=8", 0.125, tone=False),
    }
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "color=s=16x16", "-frames:v", "0",
                    str(folder / "zero-frames.mp4")], check=True)
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440", "-t", "1", "-c:a", "aac",
                    str(folder / "song.mp4")], check=True)
    data = open(example_clips()[0][0], "rb").read()
    (folder / "half.mp4").write_bytes(data[: len(data) // 2])
    (folder / "notes.mp4").write_text("this is not a video\n" * 20)
    (folder / "bomb.png").write_bytes(png_claiming(20_000, 20_000))
    Image.new("RGBA", (40, 30), (200, 100, 50, 128)).save(folder / "alpha.png")
    Image.new("L", (9, 15), 80).save(folder / "gray.png")
    Image.fromarray(np.full((20, 20), 40000, np.uint16)).save(folder / "deep.png")
    Image.new("RGB", (1, 1), (9, 99, 199)).save(folder / "dot.png")
    return {**{p.stem: p for p in folder.iterdir()}, **made}


# ---------------------------------------------------------------- the command line: refused


@pytest.mark.parametrize("args, message", [
    (("--prompt", "x" * 10_000), f"keep it under {MAX_PROMPT_CHARS}"),
    (("--prompt", "a red circle", "--seed", -1), "seed must be between 0 and 2^63 - 1"),
    (("--prompt", "a red circle", "--seed", 2**63), "seed must be between 0 and 2^63 - 1"),
    (("--prompt", "a red circle", "--steps", 0), "steps must be between 1 and 200"),
    (("--prompt", "a red circle", "--steps", 10**6), "steps must be between 1 and 200"),
    (("--prompt", "a red circle", "--guidance", "nan"), "guidance must be a finite number"),
    (("--prompt", "a red circle", "--guidance", "inf"), "guidance must be a finite number"),
    (("--prompt", "a red circle", "--audio-guidance", "-1"), "audio guidance must be a finite number"),
    (("--prompt", "\x00\x07 \u200b\t"), "the prompt is empty"),
])
def test_generate_refuses_bad_values(capsys, tmp_path, tiny_checkpoint, args, message):
    code, stderr = cli(capsys, "generate", *args, "--model", tiny_checkpoint, "--out", tmp_path / "x.mp4")
    assert_refused(code, stderr, message)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name, message", [("bomb", "decompression bomb"), ("notes", "not a readable image")])
def test_generate_refuses_unreadable_images(capsys, tmp_path, tiny_checkpoint, files, name, message):
    code, stderr = cli(capsys, "generate", "--prompt", "a red circle", "--image", files[name], *FAST,
                       "--model", tiny_checkpoint, "--out", tmp_path / "x.mp4")
    assert_refused(code, stderr, message)
    assert files[name].name in stderr


@pytest.mark.parametrize("name, message", [
    ("notes", "cannot read"), ("half", "truncated or damaged"), ("zero-frames", "no video stream"),
    ("song", "no video stream"),
])
def test_edit_refuses_unreadable_videos(capsys, tmp_path, tiny_checkpoint, files, name, message):
    code, stderr = cli(capsys, "edit", "--video", files[name], "--instruction", "make it grayscale", *FAST,
                       "--model", tiny_checkpoint, "--out", tmp_path / "x.mp4")
    assert_refused(code, stderr, message)
    assert files[name].name in stderr


def test_edit_refuses_an_unknown_task(capsys, tmp_path, tiny_checkpoint):
    code, stderr = cli(capsys, "edit", "--video", example_clips()[0][0], "--instruction", "make it grayscale",
                       "--task", "explode", *FAST, "--model", tiny_checkpoint, "--out", tmp_path / "x.mp4")
    assert_refused(code, stderr, "unknown task 'explode'")


def broken_models(root, checkpoint) -> dict:
    (root / "empty").mkdir()
    corrupt = root / "corrupt"
    shutil.copytree(checkpoint, corrupt)
    weights = next((corrupt / "transformer").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])
    return {"missing": root / "missing", "empty": root / "empty", "corrupt": corrupt}


@pytest.mark.parametrize("kind, message", [("missing", "does not exist"), ("empty", "no model_index.json"),
                                           ("corrupt", "cannot load 'transformer'")])
def test_a_bad_model_folder_is_named(capsys, tmp_path, tiny_checkpoint, kind, message):
    model = broken_models(tmp_path, tiny_checkpoint)[kind]
    code, stderr = cli(capsys, "generate", "--prompt", "a red circle", *FAST, "--model", model,
                       "--out", tmp_path / "x.mp4")
    assert_refused(code, stderr, message)


# ---------------------------------------------------------------- the command line: made, with a notice


def test_odd_videos_are_trimmed_cropped_or_padded_with_a_notice(capsys, tmp_path, tiny_checkpoint, files):
    names = ("ten-minutes", "4k", "vertical", "one-frame")
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"video": str(files[n]), "instruction": "make it grayscale", "seed": 1}) + "\n"
                            for n in names))
    code, stderr = cli(capsys, "edit", "--jobs-file", jobs, "--out-dir", tmp_path / "out", *FAST,
                       "--model", tiny_checkpoint)
    assert code == 0, stderr
    notes = dict(zip(names, (" | ".join(r["notes"]) for r in records(tmp_path / "out"))))
    assert "trimmed 600.0 s to 2.0 s" in notes["ten-minutes"]
    assert "centre-cropped 3840x2160" in notes["4k"]
    assert "centre-cropped 90x160" in notes["vertical"]
    assert "repeated the last frame 15 times" in notes["one-frame"]
    assert "note: trimmed 600.0 s to 2.0 s" in stderr  # the notice reaches the person, not only the record
    for mp4 in (tmp_path / "out").glob("*.mp4"):
        assert media.probe(mp4).duration_s == pytest.approx(2.0, abs=0.1)


def test_odd_images_and_prompts_make_clips(capsys, tmp_path, tiny_checkpoint, files):
    prompt = "a circle 🎈 staying still دائرة\x07\u202e"
    lines = [{"prompt": "a red circle", "image": str(files[n])} for n in ("alpha", "gray", "deep", "dot")]
    lines.append({"prompt": prompt})
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps(line) + "\n" for line in lines))
    code, stderr = cli(capsys, "generate", "--jobs-file", jobs, "--out-dir", tmp_path / "out", *FAST,
                       "--model", tiny_checkpoint)
    assert code == 0, stderr
    made = records(tmp_path / "out")
    assert [r["image"] for r in made[:4]] == [line["image"] for line in lines[:4]]
    assert made[4]["prompt"] == "a circle 🎈 staying still دائرة"  # emoji and right-to-left text stay
    assert "removed control characters from the prompt" in made[4]["notes"]
    assert len(list((tmp_path / "out").glob("*.mp4"))) == 5


# ---------------------------------------------------------------- the app: what tests/test_app.py leaves


def test_app_crops_a_4k_source_with_a_notice(tiny_checkpoint, files):
    outcome = Studio(tiny_checkpoint).edit({"path": str(files["4k"]), "orig_name": "4k.mp4"}, "make it grayscale",
                                           1, "auto", 1, 4.0, 1.5, 1, False)
    assert "centre-cropped 3840x2160" in " ".join(outcome.result.notes)
    assert media.probe(outcome.videos[0]).has_audio


# ---------------------------------------------------------------- atomic model writes


def test_a_component_save_cut_short_leaves_the_old_component(tiny_checkpoint, tmp_path, monkeypatch):
    folder = tmp_path / "model"
    shutil.copytree(tiny_checkpoint, folder)
    components, clip_format = load_components(folder)
    before = {k: v.clone() for k, v in components["transformer"].state_dict().items()}
    transformer = components["transformer"]
    with torch.no_grad():
        for p in transformer.parameters():
            p.add_(1.0)

    def dies_halfway(self, path, **kwargs):
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "diffusion_pytorch_model.safetensors").write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(type(transformer), "save_pretrained", dies_halfway)
    with pytest.raises(OSError, match="disk full"):
        save_components(folder, {"transformer": transformer}, clip_format)
    after = load_components(folder)[0]["transformer"].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


# ---------------------------------------------------------------- the safety filter


def test_the_default_list_passes_the_whole_shapes_world():
    screen = SafetyFilter()
    rng = np.random.default_rng(0)
    texts = list(example_prompts())
    for _ in range(300):
        edit = sample_edit(rng)
        texts += [caption(edit.source), caption(edit.target), edit.instruction]
    for text in texts:
        screen.check(text, "prompt")


def test_the_filter_matches_whole_words_and_names_the_reason():
    screen = SafetyFilter()
    screen.check("a skilled circle gunning for the gunfight of the century", "prompt")
    with pytest.raises(ValueError, match="the instruction mentions 'gun': weapons pointed at people"):
        screen.check("Give the Square a GUN!", "instruction")


def test_cli_refuses_unsafe_prompts_and_instructions_before_loading(capsys, tmp_path):
    nowhere = tmp_path / "no-model"  # refused before the model is even looked for
    code, stderr = cli(capsys, "generate", "--prompt", "a bloody circle", "--model", nowhere,
                       "--out", tmp_path / "x.mp4")
    assert_refused(code, stderr, "refused by the safety filter: the prompt mentions 'bloody'")
    code, stderr = cli(capsys, "edit", "--video", example_clips()[0][0], "--instruction", "add a corpse",
                       "--model", nowhere, "--out", tmp_path / "x.mp4")
    assert_refused(code, stderr, "the instruction mentions 'corpse'")
    code, stderr = cli(capsys, "generate", "--prompt", "a red circle", "--negative-prompt", "blood", "--model",
                       nowhere, "--out", tmp_path / "x.mp4")
    assert_refused(code, stderr, "does not exist")  # negative prompts name what to avoid: not screened


def test_cli_takes_a_list_from_a_file_or_the_environment(capsys, tmp_path, tiny_checkpoint, monkeypatch):
    mine = tmp_path / "unsafe.txt"
    mine.write_text("# no hot drinks here\nhot beverages: coffee, tea\n")
    out = tmp_path / "x.mp4"
    code, stderr = cli(capsys, "generate", "--prompt", "a circle of coffee", "--unsafe-list", mine,
                       "--model", tiny_checkpoint, "--out", out)
    assert_refused(code, stderr, f"the prompt mentions 'coffee': hot beverages (list: {mine}")
    monkeypatch.setenv("FLIPBOOK_UNSAFE_LIST", str(mine))
    code, stderr = cli(capsys, "generate", "--prompt", "a TEA circle", "--model", tiny_checkpoint, "--out", out)
    assert_refused(code, stderr, "'tea'")
    code, stderr = cli(capsys, "generate", "--prompt", "a bloody circle", *FAST, "--model", tiny_checkpoint,
                       "--out", out)
    assert code == 0 and out.is_file(), stderr  # the file replaces the default list
    monkeypatch.setenv("FLIPBOOK_UNSAFE_LIST", str(tmp_path / "nowhere.txt"))
    assert_refused(*cli(capsys, "generate", "--prompt", "a red circle", "--model", tiny_checkpoint, "--out", out),
                   "unsafe list")


def test_app_refuses_unsafe_requests_with_a_clear_error(tiny_checkpoint, tmp_path, monkeypatch):
    studio = Studio(tiny_checkpoint)
    with pytest.raises(gr.Error, match="refused by the safety filter: the prompt mentions 'nude'"):
        studio.generate("a nude circle", 1, "", 1, 4.0, 1)
    clip = {"path": example_clips()[0][0], "orig_name": "clip.mp4"}
    with pytest.raises(gr.Error, match="the instruction mentions 'swastika'"):
        studio.edit(clip, "paint a swastika on the square", 1, "auto", 1, 4.0, 1.5, 1, False)
    assert studio.generate("a red circle", 1, "", 1, 4.0, 1).videos[0].is_file()  # and it keeps serving
    mine = tmp_path / "unsafe.txt"
    mine.write_text("triangles\n")
    monkeypatch.setenv("FLIPBOOK_UNSAFE_LIST", str(mine))
    with pytest.raises(gr.Error, match="mentions 'triangles'"):
        Studio(tiny_checkpoint).generate("two triangles", 1, "", 1, 4.0, 1)
