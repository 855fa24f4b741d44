"""Stage 2b: the generator grown deeper (training/grow.py: new blocks start as identities) and
trained on, so the bigger model starts from everything the smaller one learned.

    accelerate launch -m training.generator_deep --config training/configs/shapes.yaml
"""

from training.generator import main

if __name__ == "__main__":
    main("generator_deep", __doc__.splitlines()[0], grown=True)
