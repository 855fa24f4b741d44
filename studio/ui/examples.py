"""The app's examples: prompts, first-frame images and source clips of the Shapes World.

They are rendered once from fixed seeds and committed to `assets/examples/` (64 px, a few
kilobytes each), so a fresh checkout shows them without rendering anything:

    python -m studio.ui.examples assets/examples
"""

import json
import os
import sys
from pathlib import Path

import numpy as np

from studio import media
from studio.engine import REPO_ROOT
from studio.world.captions import caption, partial_caption
from studio.world.edits import render_edit, sample_edit
from studio.world.render import render_clip
from studio.world.scene import DEFAULT_HOLDOUT, sample_scene

EXAMPLES_DIR = REPO_ROOT / "assets" / "examples"
# Edits whose result is easy to see at a glance, one example clip each.
CLIP_TASKS = ("recolor", "background", "reshape", "style", "remove")


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_examples(folder: str | os.PathLike = EXAMPLES_DIR, seed: int = 0, num_prompts: int = 6,
                   num_partial: int = 4, num_images: int = 3) -> Path:
    """Render the examples into `folder`: prompts.txt, image-K.png, clip-K.mp4 and
    examples.json (which prompt goes with which image, which instruction with which clip).
    Scenes avoid the shipped models' held-out combinations, so examples show what was learnt."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    prompts = [caption(sample_scene(rng, holdout=DEFAULT_HOLDOUT)) for _ in range(num_prompts)]
    # Partial prompts of one object, naming most attributes: "a green triangle moving up".
    prompts += [partial_caption(rng, sample_scene(rng, 1, DEFAULT_HOLDOUT), keep_probability=0.75)
                for _ in range(num_partial)]
    _write_text(folder / "prompts.txt", "\n".join(prompts) + "\n")

    images = []
    for k in range(1, num_images + 1):
        scene = sample_scene(rng, holdout=DEFAULT_HOLDOUT)
        media.write_image(folder / f"image-{k}.png", render_clip(scene).frames[0])
        images.append({"file": f"image-{k}.png", "prompt": caption(scene)})
    clips = []
    for k, task in enumerate(CLIP_TASKS, 1):
        edit = sample_edit(rng, task, holdout=DEFAULT_HOLDOUT)
        source, _ = render_edit(edit)
        media.write_video(folder / f"clip-{k}.mp4", source)
        clips.append({"file": f"clip-{k}.mp4", "instruction": edit.instruction, "task": task,
                      "caption": caption(edit.source)})
    _write_text(folder / "examples.json", json.dumps({"seed": seed, "images": images, "clips": clips}, indent=1))
    return folder


# ---------------------------------------------------------------- reading, for the app

def _manifest(folder: Path) -> dict:
    path = folder / "examples.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"images": [], "clips": []}


def example_prompts(folder: str | os.PathLike = EXAMPLES_DIR) -> list[str]:
    path = Path(folder) / "prompts.txt"
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def example_images(folder: str | os.PathLike = EXAMPLES_DIR) -> list[list[str]]:
    """[image path, prompt] rows."""
    folder = Path(folder)
    return [[str(folder / e["file"]), e["prompt"]] for e in _manifest(folder)["images"]]


def example_clips(folder: str | os.PathLike = EXAMPLES_DIR) -> list[list[str]]:
    """[clip path, instruction] rows."""
    folder = Path(folder)
    return [[str(folder / e["file"]), e["instruction"]] for e in _manifest(folder)["clips"]]


if __name__ == "__main__":
    print(f"wrote {write_examples(sys.argv[1] if len(sys.argv) > 1 else EXAMPLES_DIR)}")
