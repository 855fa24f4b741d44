"""The `prepare` command's arguments, shared by `python -m studio.prepare` and `python -m studio prepare`.

`studio/cli.py` registers it with:

    prepare = commands.add_parser("prepare", help="turn a folder of raw videos into a training set")
    add_arguments(prepare); prepare.set_defaults(run=run)
"""

import argparse
from pathlib import Path

from studio.prepare.config import PrepareConfig
from studio.prepare.safety import parse_descriptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = PrepareConfig()
    parser.description = ("Turn a folder of raw videos and images into a training set in the layout "
                          "`python -m studio world` writes: key frames, deduplication, unsafe-content, quality "
                          "and size filters, trimming, captions. Inputs are never modified; re-running resumes.")
    parser.add_argument("--input", required=True, help="folder of raw videos and images (searched recursively)")
    parser.add_argument("--out", required=True, help="dataset folder to write (new, or an earlier prepare output)")
    parser.add_argument("--seconds", type=float, default=defaults.seconds,
                        help=f"clip length in seconds (default {defaults.seconds:g})")
    parser.add_argument("--fps", type=float, default=defaults.fps, help=f"frame rate (default {defaults.fps:g})")
    parser.add_argument("--size", type=int, default=defaults.size,
                        help=f"square frame size in pixels, centre crop (default {defaults.size})")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes per rank (default: cores divided by ranks)")
    parser.add_argument("--clip-model", default=None, metavar="PATH",
                        help="local CLIP-like model folder: embedding deduplication and zero-shot safety")
    parser.add_argument("--caption-model", default=None, metavar="PATH",
                        help="local image-to-text model folder for clips without a caption sidecar")
    parser.add_argument("--unsafe", default=None, metavar="FILE",
                        help="harmful scene descriptions replacing the default list, one per line, optionally "
                             "'description: word, phrase, ...'")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="any other threshold of PrepareConfig, e.g. --set blur_min_sharpness=0.3")


def config_from_args(args: argparse.Namespace) -> PrepareConfig:
    config = PrepareConfig(seconds=args.seconds, fps=args.fps, size=args.size, clip_model=args.clip_model,
                           caption_model=args.caption_model)
    if args.unsafe:
        config.unsafe = parse_descriptions(Path(args.unsafe).read_text(encoding="utf-8"))
    config.replace_from_strings(args.set)
    return config


def run(args: argparse.Namespace) -> None:
    from studio.prepare.pipeline import prepare

    result = prepare(args.input, args.out, config_from_args(args), workers=args.workers)
    if result.rows:
        from studio.prepare.report import format_table

        print(format_table(result.rows))
        print(result.message)
