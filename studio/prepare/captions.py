"""Stage 7: a caption for every kept clip, and where it came from.

In order of trust: a sidecar written by a person (`clip.txt`, or `clip.json` with a
`caption`, `text`, `description` or `prompt` field) next to the clip or next to one of its
removed duplicates; then an image-to-text model given by path, run on the first frame (the
frame an i2v sample shows); then words from the file name. `caption_source` in the manifest
says which ("sidecar", "model", "filename").
"""

import json
import os
import re

JSON_CAPTION_KEYS = ("caption", "text", "description", "prompt")
# Camera and export prefixes that say nothing about the content: IMG_2031.MOV is not "img".
NOISE_WORDS = {"img", "dsc", "dscn", "dscf", "vid", "mov", "mvi", "pxl", "gopr", "gh", "dji", "clip", "video",
               "copy", "final", "edit", "export", "raw", "tmp", "new", "untitled", "lowq", "hq", "lq", "p"}


def read_sidecar(path: str) -> str | None:
    """The caption in a .txt or .json sidecar, or None when it is empty or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError):
        return None
    if path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None
        text = next((data[key] for key in JSON_CAPTION_KEYS if isinstance(data, dict)
                     and isinstance(data.get(key), str)), "")
    text = " ".join(text.split())
    return text or None


def sidecar_caption(root: str, sidecars: list[str]) -> str | None:
    for sidecar in sidecars:
        caption = read_sidecar(os.path.join(root, sidecar))
        if caption:
            return caption
    return None


def _name_words(name: str) -> list[str]:
    name = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return [word for word in re.findall(r"[a-z]+", name.lower())
            if word not in NOISE_WORDS and not re.search(r"\d", word)]


def filename_caption(source: str) -> str:
    """Words of the file name, else of its folder, else "a video"."""
    folder, name = os.path.split(source)
    words = _name_words(os.path.splitext(name)[0]) or _name_words(os.path.basename(folder))
    return " ".join(words) or "a video"
