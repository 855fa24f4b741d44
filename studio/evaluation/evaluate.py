"""The quality bars, measured by the judge on prompts and edits never seen in training.

    python -m studio.evaluation.evaluate --model assets/shapes --count 300 [--out metrics.json]

Scenes come from a seed far from any training seed; held-out attribute combinations (the
world's default hold-out) are scored apart. True clips passed through the VAEs are judged the
same way, and so are the exact targets of the evaluation's edits: every clip the studio makes
is decoded, so that is the ceiling of any bar; so are the same true clips encoded at the base
size and brought to full size by the upsampler, the most a perfect base stage could score.
With `--ablation RUN_DIR` the edit metrics are also measured for the stage I, II and III edit
transformers of that run.
"""

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models import sampling_defaults as defaults
from models.joint_transformer import JointDenoisingTransformer
from models.pipelines import EditPipeline, GeneratePipeline, load_components
from models.pipelines.studio_pipeline import encode_audio, encode_video, frames_to_tensor
from models.task_detection import detect_task
from studio.evaluation.judge import audio_matches, judge_clip
from studio.evaluation.scoring import ATTRIBUTES, Expected, expected_after, score
from studio.media import Clip
from studio.world.captions import caption
from studio.world.edits import render_edit, sample_edit
from studio.world.render import render_clip
from studio.world.scene import DEFAULT_HOLDOUT, Scene, sample_scene
from studio.world.spec import EDIT_TASKS

EVALUATION_SEED = 987_654  # far from the training data's seeds
DETERMINISTIC_TASKS = tuple(t for t in EDIT_TASKS if t != "add")  # `add` places its object freely


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def rate(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else float("nan")


def summarise(clips: list[tuple[Clip, Scene]], positions_free: bool = False) -> dict:
    """Judge each (clip, the scene it should show): attribute rates, all four main ones, audio.
    `positions_free`: the clips were asked for in words alone, which place nothing."""
    checks, pitch, timbre = [], [], []
    for clip, scene in clips:
        report = judge_clip(clip)
        checks.append(score(report, Expected(scene, positions_free=positions_free)).checks)
        agreement = audio_matches(report)
        pitch.append(agreement.pitch_fraction)
        timbre.append(agreement.timbre_ok)
    four = [all(c[a] for a in ("colour", "shape", "motion", "background")) for c in checks]
    objects = [len(scene.objects) for _, scene in clips]
    result = {f"{a}_right": rate(c[a] for c in checks) for a in ("background", *ATTRIBUTES)}
    result["all_four_right"] = rate(four)
    result["count_right"] = rate(c["count"] for c in checks)
    result["all_four_right_by_objects"] = {str(n): rate(ok for ok, k in zip(four, objects) if k == n)
                                           for n in sorted(set(objects))}
    result["audio_pitch_frames_within_1_semitone"] = rate(pitch)
    result["audio_timbre_right"] = rate(timbre)
    result["clips"] = len(clips)
    return result


def evaluate_generation(pipe: GeneratePipeline, count: int, split: str, steps: int, with_image: bool) -> dict:
    rng = np.random.default_rng([EVALUATION_SEED, split == "heldout", with_image])
    size = pipe.config.size
    clips, first_frame = [], []
    for i in tqdm(range(count), desc=f"{'i2v' if with_image else 't2v'} {split}", unit="clip"):
        scene = sample_scene(rng, holdout=DEFAULT_HOLDOUT, split=split)
        truth = render_clip(scene, size)
        out = pipe(caption(scene), image=truth.frames[0] if with_image else None, seed=i,
                   num_inference_steps=steps)
        clips.append((Clip(out.frames[0], out.audio[0], out.fps, out.sample_rate_hz), scene))
        if with_image:
            first_frame.append(psnr(out.frames[0][0], truth.frames[0]))
    result = summarise(clips, positions_free=not with_image)
    if with_image:
        result["first_frame_psnr_db"] = rate(first_frame)
    return result


@torch.no_grad()
def through_the_vaes(pipe: GeneratePipeline | EditPipeline, clip: Clip) -> Clip:
    """A true clip encoded and decoded at full size, as every clip the studio makes is decoded."""
    video = encode_video(pipe.video_vae, frames_to_tensor(clip.frames[None], pipe.config.size))
    frames, audio = pipe.decode(video, encode_audio(pipe.audio_vae, clip.audio[None]))
    return Clip(frames[0], audio[0], clip.fps, clip.sample_rate_hz)


@torch.no_grad()
def through_the_cascade(pipe: GeneratePipeline, clip: Clip, prompt: str, seed: int) -> Clip:
    """A true clip encoded at the base size, brought to full size by the upsampler (the
    studio's steps and guidance) and decoded: what the cascade keeps of a perfect base stage."""
    base = encode_video(pipe.video_vae, frames_to_tensor(clip.frames[None], pipe.config.base_size))
    reference = pipe.image_condition(None, 1, pipe.config.size)
    video = pipe.upsample(base, reference, pipe.encode_text(["", prompt]), [seed], defaults.GUIDANCE,
                          defaults.UPSAMPLER_STEPS, None, 0, defaults.UPSAMPLER_STEPS)
    frames, audio = pipe.decode(video, encode_audio(pipe.audio_vae, clip.audio[None]))
    return Clip(frames[0], audio[0], clip.fps, clip.sample_rate_hz)


def evaluate_round_trip(pipe: GeneratePipeline, count: int) -> tuple[dict, dict]:
    """The same judging on true clips passed through the VAEs (encode, decode) at full size:
    the most any generated clip can score, since every clip the studio makes is decoded; and
    on the same clips through the base size and the upsampler: the most a perfect base stage
    could score."""
    rng = np.random.default_rng([EVALUATION_SEED, 3])
    vaes, cascade = [], []
    for i in tqdm(range(count), desc="VAE and cascade round trips", unit="clip"):
        scene = sample_scene(rng, holdout=DEFAULT_HOLDOUT)
        truth = render_clip(scene, pipe.config.size)
        vaes.append((through_the_vaes(pipe, truth), scene))
        if pipe.upsampler is not None:
            cascade.append((through_the_cascade(pipe, truth, caption(scene), i), scene))
    return summarise(vaes), summarise(cascade) if cascade else {}


def evaluation_edits(count_per_task: int, size: int):
    """Yields (edit, instruction, source clip, target clip, index within its task), task by task;
    the same edits on every call."""
    rng = np.random.default_rng([EVALUATION_SEED, 7])
    for task in EDIT_TASKS:
        for i in tqdm(range(count_per_task), desc=f"edit {task}", unit="clip"):
            edit = sample_edit(rng, task, DEFAULT_HOLDOUT)
            source, target = render_edit(edit, size)
            yield edit, edit.random_wording(rng), source, target, i


def edit_rates(outcomes: dict[str, list[tuple[bool, float]]], count_per_task: int) -> dict:
    """Per task: success rate, and mean PSNR against the exact target where the edit is deterministic."""
    return {task: {"success": rate(ok for ok, _ in pairs),
                   **({"psnr_db": rate(p for _, p in pairs)} if task in DETERMINISTIC_TASKS else {}),
                   "edits": count_per_task} for task, pairs in outcomes.items()}


def evaluate_edits(pipe: EditPipeline, count_per_task: int, steps: int, keep_unedited_pixels: bool = True) -> dict:
    outcomes = {task: [] for task in EDIT_TASKS}
    for edit, instruction, source, target, i in evaluation_edits(count_per_task, pipe.config.size):
        out = pipe(source.frames, source.audio, instruction, seed=i, num_inference_steps=steps,
                   keep_unedited_pixels=keep_unedited_pixels)
        clip = Clip(out.frames[0], out.audio[0], out.fps, out.sample_rate_hz)
        ok = out.task == edit.task and score(judge_clip(clip), expected_after(edit)).all_ok
        outcomes[edit.task].append((ok, psnr(out.frames[0], target.frames)))
    return edit_rates(outcomes, count_per_task)


def evaluate_edit_round_trip(pipe: EditPipeline, count_per_task: int) -> dict:
    """The evaluation's edits scored on their exact targets passed through the VAEs: the most
    an edit can score, since every edited clip is decoded."""
    outcomes = {task: [] for task in EDIT_TASKS}
    for edit, _, _, target, _ in evaluation_edits(count_per_task, pipe.config.size):
        clip = through_the_vaes(pipe, target)
        outcomes[edit.task].append((score(judge_clip(clip), expected_after(edit)).all_ok,
                                    psnr(clip.frames, target.frames)))
    return edit_rates(outcomes, count_per_task)


def task_detection_accuracy(count: int) -> float:
    rng = np.random.default_rng([EVALUATION_SEED, 11])
    hits = []
    for _ in range(count):
        edit = sample_edit(rng)
        hits.append(detect_task(edit.random_wording(rng)) == edit.task)
    return rate(hits)


def _percent(x: float) -> str:
    return f"{100 * x:.0f} %"


def _decibels(x: float) -> str:
    return f"{x:.2f} dB"  # two decimals: 23.96 dB against a 24 dB bar must not read as 24.0


def bars_table(metrics: dict) -> str:
    """The training issue's quality bars against the measured figures, as a Markdown table."""
    t2v, held, i2v = metrics["text_to_video"], metrics["text_to_video_held_out"], metrics["image_to_video"]
    rows = [(f"text → video: {a} right", t2v[f"{a}_right"], 0.90, _percent)
            for a in ("colour", "shape", "motion", "background")]
    rows += [("text → video: all four right", t2v["all_four_right"], 0.75, _percent),
             ("held-out combinations: all four right", held["all_four_right"], 0.60, _percent),
             ("audio: frames within 1 semitone", t2v["audio_pitch_frames_within_1_semitone"], 0.80, _percent),
             ("audio: timbre right", t2v["audio_timbre_right"], 0.80, _percent),
             ("image → video: first-frame PSNR", i2v["first_frame_psnr_db"], 28.0, _decibels),
             ("image → video: motion right", i2v["motion_right"], 0.90, _percent)]
    for task, r in metrics["edit"].items():
        rows.append((f"edit {task}: success", r["success"], 0.80, _percent))
        if "psnr_db" in r:
            rows.append((f"edit {task}: PSNR against the exact target", r["psnr_db"], 24.0, _decibels))
    rows.append(("edit task detected from the instruction", metrics["task_detection_accuracy"], 0.95, _percent))
    lines = ["| bar | target | measured | holds |", "|---|---|---|---|"]
    lines += [f"| {name} | ≥ {fmt(target)} | {fmt(value)} | {'yes' if value >= target else 'no'} |"
              for name, value, target, fmt in rows]
    return "\n".join(lines)


def ceiling_table(metrics: dict) -> str:
    """Text-to-video against true clips through the base size and the upsampler, and through
    the VAEs alone (the ceilings), as Markdown."""
    columns = [("text → video", metrics["text_to_video"]),
               ("true clips through the base size and the upsampler", metrics.get("cascade_round_trip")),
               ("true clips through the VAEs", metrics["vae_round_trip"])]
    columns = [(name, figures) for name, figures in columns if figures]
    keys = [(f"{a} right", f"{a}_right") for a in ("colour", "shape", "motion", "background")]
    keys += [("all four right", "all_four_right"), ("object count right", "count_right"),
             ("audio: frames within 1 semitone", "audio_pitch_frames_within_1_semitone"),
             ("audio: timbre right", "audio_timbre_right")]
    lines = ["| judged | " + " | ".join(name for name, _ in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(_percent(figures[key]) for _, figures in columns) + " |"
              for name, key in keys]
    return "\n".join(lines)


def edit_ceiling_table(metrics: dict) -> str:
    """Each edit task's success and PSNR against those of its exact targets through the VAEs."""
    lines = ["| edit | success | targets through the VAEs | PSNR | targets through the VAEs |",
             "|---|---|---|---|---|"]
    for task, r in metrics["edit"].items():
        c = metrics["edit_vae_round_trip"][task]
        db = f"{_decibels(r['psnr_db'])} | {_decibels(c['psnr_db'])}" if "psnr_db" in r else "– | –"
        lines.append(f"| {task} | {_percent(r['success'])} | {_percent(c['success'])} | {db} |")
    return "\n".join(lines)


def ablation_table(ablation: dict) -> str:
    """Edit success and PSNR on video edits of each edit stage's checkpoint, as Markdown."""
    lines = ["| checkpoint | edit success (mean over tasks) | PSNR on deterministic video edits |", "|---|---|---|"]
    for stage, tasks in ablation.items():
        success = np.mean([r["success"] for r in tasks.values()])
        psnrs = [r["psnr_db"] for r in tasks.values() if "psnr_db" in r]
        lines.append(f"| {stage} | {_percent(success)} | {np.mean(psnrs):.1f} dB |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m studio.evaluation.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="assets/shapes", help="checkpoint folder")
    parser.add_argument("--count", type=int, default=300, help="text-to-video prompts (default 300)")
    parser.add_argument("--edits-per-task", type=int, default=40)
    parser.add_argument("--steps", type=int, help=f"base sampling steps (default: the studio's, {defaults.STEPS} "
                                                   f"for generation, {defaults.EDIT_STEPS} for edits)")
    parser.add_argument("--ablation", help="a training run folder: also score its edit stages I, II, III")
    parser.add_argument("--ablation-edits-per-task", type=int, default=20)
    parser.add_argument("--keep-unedited-pixels", action=argparse.BooleanOptionalAction, default=True,
                        help="as the studio does by default; --no-keep-unedited-pixels scores the edit "
                             "transformer's whole regenerated clips")
    parser.add_argument("--out", help="write the metrics JSON here (default MODEL/metrics.json)")
    args = parser.parse_args()

    components, fmt = load_components(args.model)
    edit_transformer = components.pop("edit_transformer", components["transformer"])
    generate = GeneratePipeline(**components, **fmt)
    edit_components = {**components, "transformer": edit_transformer,
                       "generation_transformer": components["transformer"]}
    edit = EditPipeline(**edit_components, **fmt)
    for pipe in (generate, edit):
        pipe.set_progress_bar_config(disable=True)
    held_out_count = max(args.count // 3, 1)
    steps, edit_steps = args.steps or defaults.STEPS, args.steps or defaults.EDIT_STEPS
    vae_round_trip, cascade_round_trip = evaluate_round_trip(generate, held_out_count)
    metrics = {
        "text_to_video": evaluate_generation(generate, args.count, "train", steps, False),
        "text_to_video_held_out": evaluate_generation(generate, held_out_count, "heldout", steps, False),
        "image_to_video": evaluate_generation(generate, held_out_count, "train", steps, True),
        "vae_round_trip": vae_round_trip,
        "cascade_round_trip": cascade_round_trip,
        "edit": evaluate_edits(edit, args.edits_per_task, edit_steps, args.keep_unedited_pixels),
        "edit_vae_round_trip": evaluate_edit_round_trip(edit, args.edits_per_task),
        "task_detection_accuracy": task_detection_accuracy(2000),
        "settings": {"steps": steps, "edit_steps": edit_steps, "upsampler_steps": defaults.UPSAMPLER_STEPS,
                     "guidance": defaults.GUIDANCE, "audio_guidance": defaults.AUDIO_GUIDANCE,
                     "edit_guidance": defaults.EDIT_GUIDANCE,
                     "video_guidance": defaults.VIDEO_GUIDANCE, "seed": EVALUATION_SEED,
                     "holdout": DEFAULT_HOLDOUT.to_strings(), "bf16": generate.bf16,
                     "keep_unedited_pixels": args.keep_unedited_pixels,
                     "compose_objects": generate.config.compose_objects},
    }
    if args.ablation:
        metrics["ablation"] = {}
        for stage in ("edit_stage1", "edit_stage2", "edit_stage3"):
            folder = Path(args.ablation) / stage / "final"
            if folder.is_dir():
                stage_pipe = EditPipeline(**{**edit_components, "transformer": JointDenoisingTransformer.from_pretrained(
                    folder, use_safetensors=True).eval()}, **fmt)
                stage_pipe.set_progress_bar_config(disable=True)
                metrics["ablation"][stage] = evaluate_edits(stage_pipe, args.ablation_edits_per_task, edit_steps,
                                                            args.keep_unedited_pixels)
    out = Path(args.out or Path(args.model) / "metrics.json")
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(metrics, indent=1))
    os.replace(tmp, out)
    print(json.dumps(metrics, indent=1))
    print(bars_table(metrics))
    print(ceiling_table(metrics))
    print(edit_ceiling_table(metrics))
    if metrics.get("ablation"):
        print(ablation_table(metrics["ablation"]))


if __name__ == "__main__":
    main()
