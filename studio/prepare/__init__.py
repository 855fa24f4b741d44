"""Data preparation: a folder of raw videos and images in, a training set out.

    python -m studio.prepare --input RAW --out DATASET [--seconds S] [options]

One module per stage (discover, keyframes, dedup, safety, quality, trim, captions, write),
thresholds in `config.PrepareConfig`, the run itself in `pipeline`.
"""
