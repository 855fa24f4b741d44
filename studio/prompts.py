"""What a prompt or an edit instruction may be, checked by the engine so the CLI and the app
share one rule: control characters removed (with a note), at most `MAX_PROMPT_CHARS`
characters, and nothing on the unsafe-content list.

The list is the one data preparation filters captions with (`studio/prepare/safety.py`), so
the studio refuses to make what the training data was kept free of. `FLIPBOOK_UNSAFE_LIST`
(or the CLI's `--unsafe-list`) names a file in the same format as `prepare --unsafe`: one
description a line, optionally `description: word, phrase, ...`.
"""

import os
import unicodedata
from pathlib import Path

from studio.prepare.config import DEFAULT_UNSAFE
from studio.prepare.safety import listed_reason, parse_descriptions

# The text encoder reads 32 tokens; a thousand characters is far past anything it can use,
# yet no honest prompt is refused.
MAX_PROMPT_CHARS = 1000
UNSAFE_LIST_ENV = "FLIPBOOK_UNSAFE_LIST"


class Refused(ValueError):
    """A request the safety filter will not run; the message says why and how to configure it."""


def clean(value, what: str) -> tuple[str, list[str]]:
    """`value` without control or format characters and with runs of white space as one
    space, plus a note when characters were removed. Emoji and right-to-left text stay (the
    zero-width joiner too: emoji sequences need it)."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValueError(f"the {what} must be text, not {type(value).__name__}")
    kept = "".join(" " if unicodedata.category(c) in ("Cc", "Cf") and c != "\u200d" else c for c in value)
    cleaned = " ".join(kept.split())
    notes = [f"removed control characters from the {what}"] if cleaned != " ".join(value.split()) else []
    return cleaned, notes


def check_length(text: str, what: str, max_chars: int = MAX_PROMPT_CHARS) -> None:
    if len(text) > max_chars:
        raise ValueError(f"the {what} has {len(text)} characters; keep it under {max_chars} "
                         "(the model reads only the first few dozen words)")


class SafetyFilter:
    """Refuses prompts and instructions that mention a give-away of an unsafe description."""

    def __init__(self, unsafe: dict[str, tuple[str, ...]] | None = None, source: str = "the default list"):
        self.unsafe = dict(DEFAULT_UNSAFE if unsafe is None else unsafe)
        self.source = source

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "SafetyFilter":
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"unsafe list {path} does not exist")
        try:
            return cls(parse_descriptions(path.read_text(encoding="utf-8")), str(path))
        except ValueError as error:
            raise ValueError(f"unsafe list {path}: {error}") from None

    @classmethod
    def from_env(cls, path: str | os.PathLike | None = None) -> "SafetyFilter":
        """The list in `path`, else in $FLIPBOOK_UNSAFE_LIST, else the default one."""
        path = path or os.environ.get(UNSAFE_LIST_ENV)
        return cls.from_file(path) if path else cls()

    def check(self, text: str, what: str) -> None:
        reason = listed_reason(text, self.unsafe, f"the {what}")
        if reason is not None:
            raise Refused(f"refused by the safety filter: {reason} (list: {self.source}; set "
                          f"{UNSAFE_LIST_ENV} to a file of your own to change it)")
