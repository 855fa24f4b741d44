"""The quality-bar evaluation end to end on a tiny checkpoint, its tables, and the word-sensitivity
diagnostic."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from models import sampling_defaults as defaults
from models.joint_transformer import JointDenoisingTransformer
from models.pipelines import load_components
from studio.evaluation.evaluate import ablation_table, bars_table, ceiling_table, edit_ceiling_table
from studio.evaluation.word_sensitivity import ATTRIBUTES, NOISE_LEVELS, swapped, word_sensitivity
from studio.world.captions import caption
from studio.world.scene import ATTRIBUTES as OBJECT_ATTRIBUTES, Scene, WorldObject
from studio.world.spec import EDIT_TASKS

REPO = Path(__file__).resolve().parents[1]


def test_evaluate_scores_every_bar_and_the_stage_ablation(tiny_checkpoint, tmp_path):
    run = tmp_path / "run"
    transformer = JointDenoisingTransformer.from_pretrained(tiny_checkpoint / "transformer", use_safetensors=True)
    for stage in ("edit_stage1", "edit_stage2"):
        transformer.save_pretrained(run / stage / "final", safe_serialization=True)
    out = tmp_path / "metrics.json"
    done = subprocess.run([sys.executable, "-m", "studio.evaluation.evaluate", "--model", str(tiny_checkpoint),
                           "--count", "3", "--edits-per-task", "1", "--ablation", str(run),
                           "--ablation-edits-per-task", "1", "--steps", "2", "--out", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads(out.read_text())
    assert metrics["text_to_video"]["clips"] == 3 and metrics["text_to_video_held_out"]["clips"] == 1
    assert set(metrics["edit"]) == set(EDIT_TASKS)
    assert set(metrics["ablation"]) == {"edit_stage1", "edit_stage2"}
    assert metrics["vae_round_trip"]["clips"] == metrics["cascade_round_trip"]["clips"] == 1
    assert set(metrics["edit_vae_round_trip"]) == set(EDIT_TASKS)
    assert all(r["psnr_db"] > 0 for r in metrics["edit_vae_round_trip"].values() if "psnr_db" in r)
    for part in ("text_to_video", "text_to_video_held_out", "image_to_video", "vae_round_trip", "cascade_round_trip"):
        for key, value in metrics[part].items():
            if key.endswith("_right"):
                assert 0.0 <= value <= 1.0
    assert metrics["image_to_video"]["first_frame_psnr_db"] > 0
    by_objects = metrics["text_to_video"]["all_four_right_by_objects"]
    assert by_objects and set(by_objects) <= {"1", "2"} and all(0.0 <= v <= 1.0 for v in by_objects.values())
    assert metrics["settings"]["steps"] == 2 and metrics["settings"]["edit_steps"] == 2
    assert metrics["settings"]["edit_guidance"] == defaults.EDIT_GUIDANCE
    assert metrics["settings"]["audio_guidance"] == defaults.AUDIO_GUIDANCE
    assert "| text → video: all four right | ≥ 75 % |" in done.stdout
    assert "| edit_stage2 |" in done.stdout
    assert "| all four right |" in done.stdout and "through the base size and the upsampler" in done.stdout
    assert "| add |" in done.stdout and "targets through the VAEs" in done.stdout


def test_ceiling_table_sets_generation_beside_the_vae_round_trip():
    generation = {"colour_right": 0.46, "shape_right": 0.23, "motion_right": 0.19, "background_right": 1.0,
                  "all_four_right": 0.06, "count_right": 0.5, "audio_pitch_frames_within_1_semitone": 0.06,
                  "audio_timbre_right": 0.19}
    table = ceiling_table({"text_to_video": generation, "vae_round_trip": {**generation, "shape_right": 0.5}})
    assert "| shape right | 23 % | 50 % |" in table and "| colour right | 46 % | 46 % |" in table
    assert table.count("\n") == 9 and "| object count right | 50 % | 50 % |" in table
    table = ceiling_table({"text_to_video": generation, "vae_round_trip": {**generation, "shape_right": 0.5},
                           "cascade_round_trip": {**generation, "shape_right": 0.4}})
    assert "| shape right | 23 % | 40 % | 50 % |" in table and table.startswith(
        "| judged | text → video | true clips through the base size and the upsampler | true clips through the VAEs |")


def test_edit_ceiling_table_sets_each_task_beside_its_targets_through_the_vaes():
    edits = {"recolor": {"success": 0.05, "psnr_db": 19.9}, "add": {"success": 0.08}}
    ceiling = {"recolor": {"success": 0.8, "psnr_db": 28.6}, "add": {"success": 0.5}}
    table = edit_ceiling_table({"edit": edits, "edit_vae_round_trip": ceiling})
    assert "| recolor | 5 % | 80 % | 19.90 dB | 28.60 dB |" in table
    assert "| add | 8 % | 50 % | – | – |" in table


def test_bars_hold_at_their_targets_and_not_below():
    generation = {f"{a}_right": 0.90 for a in ("colour", "shape", "motion", "background", "size")}
    generation.update(all_four_right=0.75, audio_pitch_frames_within_1_semitone=0.80, audio_timbre_right=0.79)
    metrics = {"text_to_video": generation, "text_to_video_held_out": {**generation, "all_four_right": 0.6},
               "image_to_video": {**generation, "first_frame_psnr_db": 27.9},
               "edit": {"recolor": {"success": 0.8, "psnr_db": 24.0}, "add": {"success": 0.5},
                        "segment": {"success": 0.5, "psnr_db": 23.96}},
               "task_detection_accuracy": 0.95}
    table = bars_table(metrics)
    assert "| text → video: colour right | ≥ 90 % | 90 % | yes |" in table
    assert "| audio: timbre right | ≥ 80 % | 79 % | no |" in table
    assert "| image → video: first-frame PSNR | ≥ 28.00 dB | 27.90 dB | no |" in table
    assert "| edit recolor: PSNR against the exact target | ≥ 24.00 dB | 24.00 dB | yes |" in table
    assert "| edit segment: PSNR against the exact target | ≥ 24.00 dB | 23.96 dB | no |" in table
    assert "edit add: PSNR" not in table and "| edit add: success | ≥ 80 % | 50 % | no |" in table
    assert "| stage | 60 % | 24.0 dB |" in ablation_table({"stage": metrics["edit"]})


def test_word_sensitivity_swaps_one_word_and_measures_only_the_text(tiny_checkpoint):
    """Each swap changes exactly its attribute (motion: the opposite direction); both captions
    see the same noise, so a denoiser that ignores its text shows no difference at all; the
    first-frame mode gives the denoiser a condition it did not have."""
    scene = Scene("navy", (WorldObject("circle", "red", "small", "up", 30.0, 40.0),))
    rng = np.random.default_rng(0)
    assert swapped(scene, "motion", rng).objects[0].motion == "down"
    for attribute in ("colour", "shape", "size"):
        other = swapped(scene, attribute, rng).objects[0]
        assert getattr(other, attribute) != getattr(scene.objects[0], attribute)
        assert [getattr(other, a) for a in ATTRIBUTES if a not in (attribute, "background")] == \
            [getattr(scene.objects[0], a) for a in ATTRIBUTES if a not in (attribute, "background")]
    assert swapped(scene, "background", rng).background != "navy"

    components, clip_format = load_components(tiny_checkpoint)
    listening = word_sensitivity(components, clip_format, clips=2)
    assert set(listening) == set(ATTRIBUTES) and all(set(v) == set(NOISE_LEVELS) for v in listening.values())
    assert any(written != other for levels in listening.values() for written, other, _ in levels.values())
    given = word_sensitivity(components, clip_format, clips=2, first_frame=True)  # same clips and noise
    assert given["colour"][NOISE_LEVELS[0]][0] != listening["colour"][NOISE_LEVELS[0]][0]
    with torch.no_grad():  # text reaches the denoiser through cross-attention and the pooled vector: cut both
        for block in components["transformer"].blocks:
            block.cross_attn.to_out.weight.zero_()
            block.cross_attn.to_out.bias.zero_()
        components["transformer"].pooled_text_embed[0].weight.zero_()
    deaf = word_sensitivity(components, clip_format, clips=2)
    assert all(np.isclose(written, other, rtol=1e-6, atol=0) for levels in deaf.values()
               for written, other, _ in levels.values())


def test_word_sensitivity_can_exchange_attributes_between_two_objects(tiny_checkpoint):
    """--binding: the caption keeps its words and binds one attribute the other way round."""
    scene = Scene("navy", (WorldObject("circle", "red", "small", "up", 20.0, 20.0),
                           WorldObject("square", "blue", "large", "still", 44.0, 40.0)))
    for attribute in OBJECT_ATTRIBUTES:
        other = scene.exchanged(attribute)
        assert caption(other) != caption(scene) and sorted(caption(other).split()) == sorted(caption(scene).split())
        assert getattr(other.objects[0], attribute) == getattr(scene.objects[1], attribute)
    components, clip_format = load_components(tiny_checkpoint)
    result = word_sensitivity(components, clip_format, clips=2, binding=True)
    assert result and set(result) <= set(OBJECT_ATTRIBUTES) and all(set(v) == set(NOISE_LEVELS) for v in result.values())
    assert any(written != other for levels in result.values() for written, other, _ in levels.values())
    given = word_sensitivity(components, clip_format, clips=2, binding=True, first_frame=True)  # same clips and noise
    assert set(given) == set(result)
    assert all(given[a][t][0] != result[a][t][0] for a in result for t in NOISE_LEVELS)
    both = subprocess.run([sys.executable, "-m", "studio.evaluation.word_sensitivity", "--model", str(tiny_checkpoint),
                           "--clips", "1", "--binding", "--first-frame"], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert both.returncode == 0 and "| attribute swapped |" in both.stdout, both.stderr[-2000:]


def test_word_sensitivity_refuses_a_folder_that_is_no_checkpoint(tmp_path):
    done = subprocess.run([sys.executable, "-m", "studio.evaluation.word_sensitivity", "--model", str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 2 and "model_index.json" in done.stderr and "Traceback" not in done.stderr
