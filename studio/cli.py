"""The command line: one subcommand per thing a person does with Flipbook.

Every failure a user can cause ends in one line on stderr and a non-zero exit, never a
traceback.
"""

import argparse
import sys

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, MediaError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
