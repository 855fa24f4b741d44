"""Edit stage I: single-frame editing (image edits as one-frame videos) mixed with video
generation, 5:1 by default (Movie Gen Edit), starting from the generator.

    accelerate launch -m training.edit_stage1 --config training/configs/shapes.yaml
"""

from training.edit import run_edit_stage

if __name__ == "__main__":
    run_edit_stage("edit_stage1", __doc__.splitlines()[0], start_from=None)
