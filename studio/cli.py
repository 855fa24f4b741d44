"""The command line: one subcommand per thing a person does with Flipbook.

Every failure a user can cause ends in one line on stderr and a non-zero exit, never a
traceback.
"""

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from models import sampling_defaults as defaults
from studio.media import MediaError


def _world(args: argparse.Namespace) -> None:
    from studio.world.dataset import write_world_dataset
    from studio.world.scene import DEFAULT_HOLDOUT, NO_HOLDOUT, Holdout

    if args.holdout == ["default"]:
        holdout = DEFAULT_HOLDOUT
    elif args.holdout == ["none"]:
        holdout = NO_HOLDOUT
    else:
        holdout = Holdout.parse(args.holdout)
    manifest = write_world_dataset(args.out, args.count, args.seed, args.size, holdout, args.split, args.workers)
    print(f"wrote {manifest}")


def _read_jobs(args: argparse.Namespace, required: tuple[str, ...]) -> list[dict]:
    """Jobs from --jobs-file (JSON lines) or --prompts-file (one prompt a line)."""
    prompts_file = getattr(args, "prompts_file", None)
    path = Path(args.jobs_file or prompts_file)
    if not path.is_file():
        raise ValueError(f"jobs file {path} does not exist")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"jobs file {path} has no jobs")
    if prompts_file:
        return [{"prompt": line.strip()} for line in lines]
    jobs = []
    for number, line in enumerate(lines, 1):
        try:
            job = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} line {number} is not JSON: {error.msg}") from None
        missing = [k for k in required if not isinstance(job, dict) or k not in job]
        if missing:
            raise ValueError(f"{path} line {number} lacks {', '.join(missing)}")
        jobs.append(job)
    return jobs


def _run_jobs(args: argparse.Namespace, single: dict, required: tuple[str, ...], run) -> None:
    """One model load; one clip per job, written as OUT (single) or OUT_DIR/0000.mp4, ...."""
    from studio.engine import Engine
    from studio.prompts import SafetyFilter

    engine = Engine(args.model, safety=SafetyFilter.from_env(args.unsafe_list))
    if args.jobs_file or getattr(args, "prompts_file", None):
        if not args.out_dir:
            raise ValueError("--jobs-file/--prompts-file need --out-dir")
        jobs = _read_jobs(args, required)
        outputs = [Path(args.out_dir) / f"{i:04d}.mp4" for i in range(len(jobs))]
    else:
        if not args.out:
            raise ValueError("--out FILE.mp4 is required")
        jobs, outputs = [single], [Path(args.out)]
    for job, out in zip(tqdm(jobs, desc=args.command, unit="clip", disable=len(jobs) == 1), outputs):
        result = run(engine, job)
        engine.write(result, 0, out)
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        print(f"wrote {out} (seed {result.seeds[0]}, task {result.task})")


def _generate(args: argparse.Namespace) -> None:
    def run(engine, job):
        return engine.generate(job["prompt"], image_path=job.get("image"), seed=job.get("seed", args.seed),
                               steps=args.steps, guidance=args.guidance, audio_guidance=args.audio_guidance,
                               negative_prompt=args.negative_prompt, compose_objects=args.compose_objects)
    _run_jobs(args, {"prompt": args.prompt, "image": args.image, "seed": args.seed}, ("prompt",), run)


def _edit(args: argparse.Namespace) -> None:
    def run(engine, job):
        return engine.edit(job["video"], job["instruction"], task=job.get("task", args.task),
                           seed=job.get("seed", args.seed), steps=args.steps, text_guidance=args.guidance,
                           video_guidance=args.video_guidance, keep_audio=args.keep_audio,
                           keep_unedited_pixels=args.keep_unedited_pixels, compose_objects=args.compose_objects)
    _run_jobs(args, {"video": args.video, "instruction": args.instruction, "task": args.task, "seed": args.seed},
              ("video", "instruction"), run)


def _add_model_options(parser: argparse.ArgumentParser, steps: int) -> None:
    from studio.engine import DEFAULT_MODEL_DIR

    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR), help="checkpoint folder (default: shipped)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random, reported)")
    parser.add_argument("--steps", type=int, default=steps, help=f"sampling steps (default {steps})")
    parser.add_argument("--out", help="output .mp4 (a .json record is written beside it)")
    parser.add_argument("--out-dir", help="output folder for --jobs-file: 0000.mp4, 0001.mp4, ...")
    parser.add_argument("--jobs-file", help="JSON lines, one job each")
    parser.add_argument("--unsafe-list", metavar="FILE",
                        help="the safety filter's list of refused content, in the format of `prepare --unsafe` "
                             "(default: $FLIPBOOK_UNSAFE_LIST, else the built-in list)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m studio", description="Flipbook: make and edit short videos "
                                     "with sound, with models you can train yourself.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    world = commands.add_parser("world", help="write a Shapes World training set",
                                description="Render Shapes World samples (kinds cycle t2v, i2v, edit) into the "
                                            "dataset layout the training scripts read.")
    world.add_argument("--out", required=True, help="output folder")
    world.add_argument("--count", type=int, required=True, help="number of samples")
    world.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    world.add_argument("--size", type=int, default=64, help="frame size in pixels (default 64)")
    world.add_argument("--holdout", nargs="+", default=["default"], metavar="COMBO",
                       help="attribute combinations kept out, e.g. colour=purple,shape=triangle; 'default' (the "
                            "shipped models' hold-out) or 'none'")
    world.add_argument("--split", choices=("train", "heldout"), default="train",
                       help="'train' avoids the held-out combinations; 'heldout' shows one in every sample")
    world.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    world.set_defaults(run=_world)

    generate = commands.add_parser("generate", help="text (and image) to a clip with sound",
                                   description="Generate a 2-second clip with synchronised audio from a prompt, "
                                               "optionally starting from an image.")
    generate.add_argument("--prompt", help="what the clip shows")
    generate.add_argument("--image", help="first frame (any image; centre-cropped)")
    generate.add_argument("--negative-prompt", default="", help="what to steer away from")
    generate.add_argument("--guidance", type=float, default=defaults.GUIDANCE,
                          help=f"classifier-free guidance (default {defaults.GUIDANCE:g})")
    generate.add_argument("--audio-guidance", type=float, default=defaults.AUDIO_GUIDANCE,
                          help=f"classifier-free guidance of the sound (default {defaults.AUDIO_GUIDANCE:g})")
    generate.add_argument("--compose-objects", action=argparse.BooleanOptionalAction, default=None,
                          help="sample the prompt object by object: one stream per object, drawn again once "
                               "if it shows nothing or moves other than its words say, the objects laid out over "
                               "one background clear of each other (default: as the model folder says; the "
                               "shipped models do)")
    generate.add_argument("--prompts-file", help="plain text, one prompt a line (with --out-dir)")
    _add_model_options(generate, defaults.STEPS)
    generate.set_defaults(run=_generate)

    edit = commands.add_parser("edit", help="edit a clip by instruction",
                               description="Edit a video by an instruction; any video is brought to the model's "
                                           "clip format (trimmed, centre-cropped) and what was done is reported.")
    edit.add_argument("--video", help="source video")
    edit.add_argument("--instruction", help="what to change, e.g. 'make the circle blue'")
    edit.add_argument("--task", help="override the task detected from the instruction")
    edit.add_argument("--guidance", type=float, default=defaults.EDIT_GUIDANCE,
                      help=f"text guidance (default {defaults.EDIT_GUIDANCE:g})")
    edit.add_argument("--video-guidance", type=float, default=defaults.VIDEO_GUIDANCE,
                      help=f"source-video guidance (default {defaults.VIDEO_GUIDANCE:g})")
    edit.add_argument("--keep-audio", action="store_true", help="keep the source audio instead of regenerating")
    edit.add_argument("--keep-unedited-pixels", action=argparse.BooleanOptionalAction, default=True,
                      help="in an edit of one object, give the pixels it left nearly alone the source's values; "
                           "object by object, a recolor, segment, background or style edit is the source with the "
                           "colours the edit changed, on the source's outlines; reverse shows the source's frames "
                           "in the edit's order (default: on)")
    edit.add_argument("--compose-objects", action=argparse.BooleanOptionalAction, default=None,
                      help="edit the object an instruction names alone (remove: in the whole source) and lay the "
                           "others back from the source; add, reshape and recolor: the generator draws the new object, "
                           "laid over the source, or the new shape or colour, which the named object takes (its "
                           "sound stays the source's) (default: as the model folder says; the shipped models do)")
    _add_model_options(edit, defaults.EDIT_STEPS)
    edit.set_defaults(run=_edit)

    from studio.prepare import cli as prepare_cli

    prepare = commands.add_parser("prepare", help="turn a folder of raw videos into a training set")
    prepare_cli.add_arguments(prepare)
    prepare.set_defaults(run=prepare_cli.run)
    return parser


def run_guarded(run, args: argparse.Namespace, interrupted: str = "interrupted") -> int:
    """Run a command; a user's mistake becomes one `error:` line and exit 2, Ctrl-C exit 130."""
    try:
        run(args)
    except (ValueError, MediaError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(args.run, args)
