"""`python -m studio.prepare --input RAW --out DATASET [--seconds S] [options]`, also under
`accelerate launch -m studio.prepare ...` (each rank takes a shard, rank 0 merges)."""

import argparse
import sys

from studio.media import MediaError
from studio.prepare.cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.prepare")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run(args)
    except (ValueError, MediaError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished files are kept; run again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
