"""Stage 4: the unsafe-content filter, checked against a list of harmful scene descriptions.

Two classifiers share the list (`PrepareConfig.unsafe`, description -> give-away words):
- text, always: a caption or a file name containing a give-away word or phrase, matched on
  whole words so "skill" never reads as "kill";
- zero-shot, with a CLIP-like model: each key frame is scored against every unsafe
  description and a set of ordinary ones, and flagged when an unsafe description wins with
  at least `unsafe_min_probability`.
"""

import re

import numpy as np

from studio.prepare.config import PrepareConfig


def words(text: str) -> str:
    """Lower-case words separated by single spaces; camelCase, snake_case and paths split."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def text_reason(text: str, config: PrepareConfig, what: str) -> str | None:
    """Why `text` (a caption or file name, described by `what`) is unsafe, or None."""
    return listed_reason(text, config.unsafe, what)


def listed_reason(text: str, unsafe: dict[str, tuple[str, ...]], what: str) -> str | None:
    """Why `text` mentions a give-away of the `unsafe` list (description -> words), or None;
    the studio screens prompts and instructions with it too."""
    padded = f" {words(text)} "
    for description, giveaways in unsafe.items():
        for giveaway in giveaways:
            if f" {words(giveaway)} " in padded:
                return f"{what} mentions {giveaway!r}: {description}"
    return None


def zero_shot_prompts(config: PrepareConfig) -> list[str]:
    """Unsafe descriptions first, then the ordinary ones."""
    return [f"a photo of {d}" for d in config.unsafe] + [f"a photo of {d}" for d in config.safe]


def zero_shot_reason(image_embeddings: np.ndarray, prompt_embeddings: np.ndarray, logit_scale: float,
                     config: PrepareConfig) -> str | None:
    """Why the key frames look unsafe, or None.

    image_embeddings (F, D) and prompt_embeddings (P, D) are unit vectors, prompts ordered as
    `zero_shot_prompts` gives them.
    """
    logits = logit_scale * image_embeddings @ prompt_embeddings.T  # (F, P)
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # (F, P)
    descriptions = list(config.unsafe)
    flagged = [(float(probabilities[frame, winner]), frame, winner)
               for frame, winner in enumerate(probabilities.argmax(axis=1))
               if winner < len(descriptions) and probabilities[frame, winner] >= config.unsafe_min_probability]
    if not flagged:
        return None
    probability, frame, winner = max(flagged)
    return (f"key frame {frame + 1} of 3 looks like {descriptions[winner]!r} (zero-shot probability "
            f"{probability:.2f} >= {config.unsafe_min_probability:g})")


def parse_descriptions(text: str) -> dict[str, tuple[str, ...]]:
    """An `--unsafe FILE`: one description per line, optionally `description: word, phrase, ...`.

    A description with no words listed is matched as a phrase itself.
    """
    unsafe = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        description, _, giveaways = line.partition(":")
        description = description.strip()
        if not description:
            raise ValueError(f"unsafe list line {number}: no description before ':'")
        listed = tuple(word.strip() for word in giveaways.split(",") if word.strip())
        unsafe[description] = listed or (description,)
    if not unsafe:
        raise ValueError("the unsafe list is empty")
    return unsafe
