"""Edit stage II: animated-frame editing (an image edit's two frames under one random affine
sequence), instruction-guided segmentation and video generation, 3:1:1 by default, starting
from stage I.

    accelerate launch -m training.edit_stage2 --config training/configs/shapes.yaml
"""

from training.edit import run_edit_stage

if __name__ == "__main__":
    run_edit_stage("edit_stage2", __doc__.splitlines()[0], start_from="edit_stage1")
