"""`python -m studio.prepare --input RAW --out DATASET [--seconds S] [options]`, also under
`accelerate launch -m studio.prepare ...` (each rank takes a shard, rank 0 merges)."""

import argparse

from studio.cli import run_guarded
from studio.prepare.cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.prepare")
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_guarded(run, args, "interrupted: finished files are kept; run again to resume")


if __name__ == "__main__":
    raise SystemExit(main())
