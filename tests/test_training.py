"""Training on the tiny config: every stage end to end, resume, two synchronised processes."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from training.config import load_config, run_order
from training.diffusion import folder_fingerprint
from training.loop import COMPLETE_MARKER, latest_checkpoint, mixed_precision_here

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "training" / "configs" / "tiny.yaml"


def stage(name, run_dir, *extra, launcher=None, config=CONFIG):
    command = [*(launcher or [sys.executable]), "-m", f"training.{name}", "--config", str(config),
               "--output-dir", str(run_dir), *map(str, extra)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def weights(path: Path) -> dict:
    return load_file(str(path / "diffusion_pytorch_model.safetensors"))


def digest(run_dir: Path, stage_name: str, rank: int = 0) -> dict:
    return json.loads((run_dir / stage_name / f"rank_{rank}.json").read_text())


@pytest.fixture(scope="module")
def after_vae(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    stage("vae", run_dir)
    return run_dir


def copy_run(source: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(source, target)
    return target


def test_every_stage_then_export_and_generate(after_vae, tmp_path):
    run_dir = copy_run(after_vae, tmp_path, "full")
    for name in ("generator", "generator_deep", "upsampler", "edit_stage1", "edit_stage2", "edit_stage3"):
        stage(name, run_dir)
        assert (run_dir / name / "loss.png").is_file()
        assert latest_checkpoint(run_dir / name / "checkpoints") is not None
        assert list((run_dir / name / "logs").rglob("events.out.tfevents*")), "no TensorBoard log"
    assert (run_dir / "generator" / "samples").is_dir()
    for name in ("transformer", "edit_transformer"):  # grown by generator_deep, then edited from
        assert json.loads((run_dir / "model" / name / "config.json").read_text())["depth"] == 3
    for name in ("edit_stage1", "edit_stage2", "edit_stage3"):
        assert (run_dir / name / "final" / "diffusion_pytorch_model.safetensors").is_file()
    # stage III's pairs come from stage II; a further round's from the saved edit transformer it trains on
    stage2 = folder_fingerprint(run_dir / "edit_stage2" / "final")
    assert (run_dir / "backtranslation" / stage2 / "manifest.jsonl").is_file()
    maker = folder_fingerprint(run_dir / "model" / "edit_transformer")
    stage("edit_stage3", run_dir, "--section", "edit_stage3.round1")
    assert (run_dir / "backtranslation" / maker / "manifest.jsonl").is_file()
    final, saved = weights(run_dir / "edit_stage3.round1" / "final"), weights(run_dir / "model" / "edit_transformer")
    assert all(torch.equal(final[k], saved[k]) for k in final)
    cached = sorted(p.name for p in (run_dir / "cache").iterdir())
    assert {"clips-00000.safetensors", "edits-00000.safetensors", "image_edits-00000.safetensors",
            "animated_edits-00000.safetensors"} <= set(cached)

    (run_dir / "NOTES.md").write_text("The generator was trained on for a new audio VAE.\n")
    (run_dir / "recipe_times.txt").write_text("stage generator: 17 s wall\n")  # as the recipe keeps it
    out = tmp_path / "exported"
    result = subprocess.run([sys.executable, "-m", "training.export", "--config", str(CONFIG), "--output-dir",
                             str(run_dir), "--out", str(out)], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    card = (out / "README.md").read_text()
    trained_in = "fp32" if mixed_precision_here("bf16") == "no" else "bf16"  # the tiny config asks for bf16
    assert re.search(rf"\| generator \| 4 \| [\d.]+ \| {trained_in} \| 17 \|", card), \
        "precision as trained or wall time from the run folder missing"
    assert "| edit_stage3.round1 | 4 |" in card and "edit_transformer" in card
    assert "## Run notes\n\nThe generator was trained on for a new audio VAE." in card
    assert weights(out / "transformer")["video_embed.weight"].dtype == torch.float16

    from studio.engine import Engine

    engine = Engine(out)
    clip = engine.generate("a red circle moving left", seed=1, steps=2, upsampler_steps=1)
    edited = engine.edit(str(engine.write(clip, 0, tmp_path / "clip.mp4")), "make it grayscale", steps=2,
                         upsampler_steps=1)
    assert clip.frames.shape == edited.frames.shape == (1, 16, 32, 32, 3) and edited.task == "style"


@pytest.mark.parametrize("stage_name, component, samples", [
    ("vae_decoder", "video_vae", ("psnr.txt",)),
    ("audio_decoder", "audio_vae", ("loss.txt", "reconstruction_0.wav", "reconstruction_1.wav")),
])
def test_a_decoder_stage_trains_the_decoder_and_keeps_the_latents(after_vae, tmp_path, stage_name, component, samples):
    run_dir = copy_run(after_vae, tmp_path, stage_name)
    folder = run_dir / "model" / component
    before, config_before = weights(folder), json.loads((folder / "config.json").read_text())
    stage(stage_name, run_dir)
    after, config_after = weights(folder), json.loads((folder / "config.json").read_text())
    assert set(before) == set(after)
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    assert (config_after["shift_factor"], config_after["scaling_factor"]) == \
        (config_before["shift_factor"], config_before["scaling_factor"])
    for name in samples:
        assert (run_dir / stage_name / "samples" / "step_0000004" / name).stat().st_size > 0


def test_the_partials_stage_adds_and_trains_a_harmonic_head_and_keeps_the_rest(after_vae, tmp_path):
    run_dir = copy_run(after_vae, tmp_path, "audio_partials")
    folder = run_dir / "model" / "audio_vae"
    before = weights(folder)
    stage("audio_partials", run_dir)
    after, config = weights(folder), json.loads((folder / "config.json").read_text())
    assert config["partials"] == 4
    head = {k for k in after if k.startswith("harmonic_head.")}
    assert head and set(after) - head == set(before)
    assert all(torch.equal(before[k], after[k]) for k in before)
    last = max(head, key=lambda k: int(k.split(".")[1]))  # the output layer, zero before training
    assert after[last.replace("bias", "weight")].abs().sum() > 0
    for name in ("loss.txt", "reconstruction_0.wav", "reconstruction_1.wav"):
        assert (run_dir / "audio_partials" / "samples" / "step_0000004" / name).stat().st_size > 0


def test_a_saved_audio_vae_from_before_harmonic_heads_grows_one(tmp_path):
    """A config.json written before `partials` existed loads with it at its default, 0, and
    diffusers marks it so; growing must still give the head asked for, every weight kept."""
    from models.audio_vae import AudioVAE
    from training.audio_partials import with_harmonic_head

    AudioVAE(latent_channels=4, hop_length=10, n_fft=32, hidden_channels=16, layers=1).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["partials"], config["fundamental_hz"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    old = AudioVAE.from_pretrained(tmp_path)
    grown = with_harmonic_head(old, 3)
    assert grown.config.partials == 3 and grown.harmonic_head is not None
    assert all(torch.equal(v, grown.state_dict()[k]) for k, v in old.state_dict().items())
    assert with_harmonic_head(grown, 5) is grown


def test_one_tone_share_is_near_one_for_a_tone_with_its_harmonics_and_half_beside_another():
    from training.audio_partials import one_tone_share

    bins = torch.arange(400.0)[None, :, None]
    def peak(at, height):
        return height * torch.exp(-((bins - at) ** 2) / 2)
    tone = peak(40.0, 1.0) + peak(120.0, 1 / 3)  # a fundamental and its third harmonic
    f0 = torch.full((1, 1), 40.0)
    assert one_tone_share(tone, f0, (20, 100)) > 0.99
    assert one_tone_share(tone + peak(70.0, 1.0) + peak(210.0, 1 / 3), f0, (20, 100)) == pytest.approx(0.5, abs=0.01)


def test_partial_weighted_l1_counts_a_missing_harmonic_more_than_plain_l1():
    """A decoded spectrum that drops a tone's weak harmonic (a few bins) is penalised far more
    than under plain L1, which averages those bins with the thousand silent ones."""
    from training.audio_decoder import PARTIAL_WEIGHT, partial_weighted_l1

    spectrum = torch.zeros(1, 1025, 8)
    spectrum[:, 36:40] = 6.0  # the fundamental
    spectrum[:, 110:114] = 4.0  # its third harmonic
    dropped = spectrum.clone()
    dropped[:, 110:114] = 0.0
    plain = (dropped - spectrum).abs().mean()
    assert partial_weighted_l1(spectrum, spectrum) == 0
    assert partial_weighted_l1(dropped, spectrum) > 0.5 * PARTIAL_WEIGHT * plain


def test_foreground_weights_mark_an_object_on_a_uniform_background():
    """A few cells far from a uniform background latent are an object's and weigh 1 + weight;
    the background weighs 1, whatever its own latent value."""
    from training.diffusion import FOREGROUND_DISTANCE, foreground_weights

    video = torch.full((2, 8, 3, 8, 8), -0.7)  # (B, C, T, h, w)
    video[0, :, :, 2:4, 5:7] += FOREGROUND_DISTANCE  # distance 2 * sqrt(8) from the background
    weights = foreground_weights(video, 4.0)
    assert weights.shape == (2, 1, 3, 8, 8)
    assert (weights[0, :, :, 2:4, 5:7] == 5).all()
    assert weights[0].sum() == 3 * (64 + 4 * 4)
    assert (weights[1] == 1).all()


def test_the_foreground_weighted_loss_is_the_same_split_across_processes():
    """Two processes' halves of a global batch average to the one-process loss, so the
    weighting keeps runs independent of the process count."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    from models.joint_transformer import JointTransformerOutput
    from training.diffusion import Inputs, denoising_loss
    from training.loop import Batch

    video = torch.randn(4, 8, 2, 8, 8)  # (B, C, T, h, w)
    video[:2, :, :, 1:3, 1:3] += 5.0  # objects in two of the clips only
    inputs = Inputs(video, None, torch.zeros(4, 9, 2, 8, 8), None,
                    (torch.zeros(4, 3, 16), torch.ones(4, 3, dtype=torch.bool), torch.zeros(4, 16)),
                    torch.zeros(4, dtype=torch.long), torch.arange(4))

    def model(noisy, *args, **kwargs):
        return JointTransformerOutput(video=0.5 * noisy)

    def loss(start, size):
        batch = Batch(0, 0, torch.Generator().manual_seed(3), 4, start, size)
        return denoising_loss(model, FlowMatchEulerDiscreteScheduler(), inputs, batch, foreground_weight=4.0)[0]

    assert torch.allclose((loss(0, 2) + loss(2, 2)) / 2, loss(0, 4))


def test_bf16_trains_only_where_the_hardware_multiplies_it_natively(monkeypatch):
    import training.loop as loop
    monkeypatch.setattr(loop.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(loop, "fast_bf16", lambda: False)
    assert (loop.mixed_precision_here("bf16"), loop.mixed_precision_here("no")) == ("no", "no")
    monkeypatch.setattr(loop, "fast_bf16", lambda: True)
    assert (loop.mixed_precision_here("bf16"), loop.mixed_precision_here("no")) == ("bf16", "no")
    monkeypatch.setattr(loop.torch.cuda, "is_available", lambda: True)  # a GPU: its own support counts
    for native, expected in ((True, "bf16"), (False, "no")):
        monkeypatch.setattr(loop.torch.cuda, "is_bf16_supported", lambda including_emulation=True: native)
        assert loop.mixed_precision_here("bf16") == expected


def test_resume_continues_the_same_run(after_vae, tmp_path):
    straight = copy_run(after_vae, tmp_path, "straight")
    stopped = copy_run(after_vae, tmp_path, "stopped")
    result = stage("generator", straight, "--max-steps", 4)  # the tiny config asks for bf16
    assert ("training in fp32, not bf16" in result.stdout) == (mixed_precision_here("bf16") == "no")
    stage("generator", stopped, "--max-steps", 2)
    stage("generator", stopped, "--max-steps", 4)
    assert digest(straight, "generator") == digest(stopped, "generator")
    a, b = weights(straight / "model" / "transformer"), weights(stopped / "model" / "transformer")
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(line) for line in (stopped / "generator" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]


def test_a_compiled_run_saves_and_resumes_like_an_eager_one(after_vae, tmp_path):
    """`compile: true` compiles in place: same parameter names in checkpoints and weights, a
    compiled run resumes, and it trains to what the eager run trains to (up to kernel rounding)."""
    config = tmp_path / "tiny_compiled.yaml"
    raw = yaml.safe_load(CONFIG.read_text())
    raw["stages"]["generator"]["compile"] = True
    config.write_text(yaml.safe_dump(raw))
    eager, compiled = copy_run(after_vae, tmp_path, "eager"), copy_run(after_vae, tmp_path, "compiled")
    stage("generator", eager, "--max-steps", 3)
    stage("generator", compiled, "--max-steps", 2, config=config)
    stage("generator", compiled, "--max-steps", 3, config=config)
    a, b = weights(eager / "model" / "transformer"), weights(compiled / "model" / "transformer")
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=2e-2) for k in a)


def learning_rates(run_dir: Path, stage_name: str) -> list[float]:
    return [json.loads(line)["lr"] for line in (run_dir / stage_name / "log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_synchronise_and_match_one_process(after_vae, tmp_path):
    """Also with a warm-up and a cool-down: the schedule advances once per step whatever the
    number of processes (Accelerate's default would step it once per process)."""
    config = tmp_path / "tiny_scheduled.yaml"
    raw = yaml.safe_load(CONFIG.read_text())
    raw["stages"]["generator"].update(warmup_steps=1, decay_steps=2)
    config.write_text(yaml.safe_dump(raw))
    one = copy_run(after_vae, tmp_path, "one")
    two = copy_run(after_vae, tmp_path, "two")
    stage("generator", one, "--max-steps", 3, config=config)
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    stage("generator", two, "--max-steps", 3, launcher=launcher, config=config)
    lr = raw["lr"]
    assert learning_rates(one, "generator") == learning_rates(two, "generator") == [0.0, lr, lr / 2]
    rank0, rank1 = digest(two, "generator", 0), digest(two, "generator", 1)
    assert rank0["parameters_sha256"] == rank1["parameters_sha256"], "the two processes did not stay in sync"
    # Equal up to rounding: the tiny generator runs in bf16, whose sums differ by batch split.
    assert rank0["parameters_sum"] == pytest.approx(digest(one, "generator")["parameters_sum"], rel=1e-3)
    a, b = weights(one / "model" / "transformer"), weights(two / "model" / "transformer")
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=2e-2) for k in a)


def test_a_torn_checkpoint_is_never_latest(tmp_path):
    (tmp_path / "step_0000002").mkdir()
    (tmp_path / "step_0000002" / COMPLETE_MARKER).write_text("2")
    (tmp_path / "step_0000004").mkdir()  # killed while saving: no marker
    (tmp_path / "tmp_step_0000006").mkdir()
    assert latest_checkpoint(tmp_path).name == "step_0000002"


@pytest.mark.parametrize("name, component", [("upsampler", "upsampler"), ("edit_stage1", "edit_transformer")])
def test_a_stage_can_train_on_the_saved_weights(after_vae, tmp_path, name, component):
    """`start_from_saved: true` starts from the run's saved upsampler or edit transformer (so
    with a zero learning rate it ends exactly where it began), and refuses a run that has none."""
    config = tmp_path / "tiny_continued.yaml"
    raw = yaml.safe_load(CONFIG.read_text())
    raw["stages"][name] = {**raw["stages"].get(name, {}), "start_from_saved": True, "lr": 0.0}
    config.write_text(yaml.safe_dump(raw))
    run_dir = copy_run(after_vae, tmp_path, "continued")
    command = [sys.executable, "-m", f"training.{name}", "--config", str(config), "--output-dir", str(run_dir)]
    refused = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert refused.returncode != 0 and "yet; train one first" in refused.stderr
    stage("generator", run_dir)
    stage(name, run_dir)
    saved = weights(run_dir / "model" / component)
    stage(name, run_dir, "--resume", "none", config=config)
    again = weights(run_dir / "model" / component)
    assert all(torch.equal(saved[k], again[k]) for k in saved)


def test_the_upsampler_learns_edits_in_a_fresh_run_folder(after_vae, tmp_path):
    """A run folder holding only a checkpoint gets its world data written before the upsampler
    looks for video edits, so it learns to restore an edit's source from its first run too; a
    checkpoint without a generator, which draws the validation clips, is refused."""
    trained = copy_run(after_vae, tmp_path, "trained")
    run_dir = tmp_path / "fresh"
    shutil.copytree(trained / "model", run_dir / "model")
    command = [sys.executable, "-m", "training.upsampler", "--config", str(CONFIG), "--output-dir", str(run_dir)]
    refused = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert refused.returncode != 0 and "has no generator yet" in refused.stderr and "Traceback" not in refused.stderr
    stage("generator", trained)
    shutil.rmtree(run_dir)
    shutil.copytree(trained / "model", run_dir / "model")
    stage("upsampler", run_dir)
    assert list((run_dir / "cache").glob("edits-*.safetensors"))


def test_the_saved_upsampler_can_grow_deeper_and_train_on(after_vae, tmp_path):
    """`grow_depth` deepens the saved upsampler before it trains on: with a zero learning rate the
    saved blocks come back unchanged and each new copy has its gates shut (training/grow.py).
    Without `start_from_saved` there is nothing to grow, which is refused."""
    raw = yaml.safe_load(CONFIG.read_text())
    config = tmp_path / "tiny_grown.yaml"
    raw["stages"]["upsampler"] = {"grow_depth": 2}
    config.write_text(yaml.safe_dump(raw))
    run_dir = copy_run(after_vae, tmp_path, "grown")
    command = [sys.executable, "-m", "training.upsampler", "--config", str(config), "--output-dir", str(run_dir)]
    refused = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert refused.returncode != 0 and "set start_from_saved: true" in refused.stderr
    assert "Traceback" not in refused.stderr
    stage("generator", run_dir)
    stage("upsampler", run_dir)
    saved = weights(run_dir / "model" / "upsampler")
    raw["stages"]["upsampler"] = {"grow_depth": 2, "start_from_saved": True, "lr": 0.0}
    config.write_text(yaml.safe_dump(raw))
    stage("upsampler", run_dir, "--resume", "none", config=config)
    grown = weights(run_dir / "model" / "upsampler")
    assert json.loads((run_dir / "model" / "upsampler" / "config.json").read_text())["depth"] == 2
    assert all(torch.equal(saved[k], grown[k]) for k in saved)
    width = grown["blocks.1.ada_ln.1.bias"].shape[0] // 6
    for gate in (2, 5):
        assert not grown["blocks.1.ada_ln.1.weight"][gate * width:(gate + 1) * width].any()


def test_a_config_section_is_a_further_run_of_its_stage():
    """The recipe runs every section in file order; `--section` reads a further run's settings
    and writes it to a folder of its own, and a section of another stage is refused."""
    assert run_order(CONFIG)[-2:] == [("edit_stage3", "edit_stage3"), ("edit_stage3", "edit_stage3.round1")]
    further = load_config(CONFIG, "edit_stage3", section="edit_stage3.round1")
    assert further.start_from_saved and further.output_path == further.run_path / "edit_stage3.round1"
    assert not load_config(CONFIG, "edit_stage3").start_from_saved
    for stage_name, section in (("edit_stage2", "edit_stage3.round1"), ("edit_stage3", "edit_stage3.round9")):
        with pytest.raises(ValueError, match="is not a run of|has no section"):
            load_config(CONFIG, stage_name, section=section)
    result = subprocess.run([sys.executable, "-m", "training.edit_stage3", "--config", str(CONFIG), "--section",
                             "edit_stage3.round9"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 2 and "has no section 'edit_stage3.round9'" in result.stderr
    assert "Traceback" not in result.stderr
    # the recipe asks for the run folder, where it keeps each run's wall time for the export
    result = subprocess.run([sys.executable, "-m", "training.config", str(CONFIG), "--run-dir"], capture_output=True,
                            text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0 and Path(result.stdout.strip()) == load_config(CONFIG, "export").run_path
