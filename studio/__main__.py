"""`python -m studio ...`: the command line (see `python -m studio --help`)."""

from studio.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
