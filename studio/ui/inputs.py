"""Request values as they arrive (raw JSON from the page or `gradio_client`), checked against
the app's limits and turned into engine arguments.

The request events run with Gradio's preprocessing off: components would otherwise open
uploads with PIL and reject out-of-range numbers with their own terse messages before our
code runs. Every value is checked here instead, and each failure is an `InputError` saying
what to do. Uploaded files still pass Gradio's check that they sit in its upload folder.
"""

import math
from dataclasses import dataclass

from models.sampling_defaults import MAX_SEED
from studio import prompts
from studio.world.spec import EDIT_TASKS

AUTO_TASK = "auto"


class InputError(ValueError):
    """A request value the app cannot use; the message says what to do instead."""


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; shown in the app and documented in the README."""

    max_prompt_chars: int = prompts.MAX_PROMPT_CHARS
    max_steps: int = 50
    max_candidates: int = 4
    max_guidance: float = 15.0
    max_upload_mb: int = 50  # enforced by Gradio at upload time (launch's max_file_size)


@dataclass(frozen=True)
class Upload:
    path: str  # where the server keeps it
    name: str  # what the user called it, for messages


def text(value, what: str, example: str, limits: Limits, required: bool = True) -> tuple[str, list[str]]:
    """A prompt or instruction cleaned as the engine cleans it (`studio.prompts`), with a note if
    control characters were removed; checked here too so a bad one is refused before any
    weights load."""
    try:
        cleaned, notes = prompts.clean(value, what)
        prompts.check_length(cleaned, what, limits.max_prompt_chars)
    except ValueError as error:
        raise InputError(str(error)) from None
    if required and not cleaned:
        raise InputError(f"the {what} is empty: {example}")
    return cleaned, notes


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{what} must be a number, not {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{what} must be a finite number, not {value}")
    return value


def seed(value) -> int | None:
    """None (random) or a whole number in [0, 2^63 - 1]."""
    if value is None or value == "":
        return None
    number = _number(value, "the seed")
    if number != int(number) or not 0 <= int(number) <= MAX_SEED:
        raise InputError(f"the seed must be a whole number from 0 to 2^63 - 1 (or empty for a random one), "
                         f"not {value}")
    return int(number)


def integer(value, what: str, low: int, high: int) -> int:
    number = _number(value, what)
    if number != int(number) or not low <= number <= high:
        raise InputError(f"{what} must be a whole number from {low} to {high}, not {value}")
    return int(number)


def real(value, what: str, low: float, high: float) -> float:
    number = _number(value, what)
    if not low <= number <= high:
        raise InputError(f"{what} must be between {low:g} and {high:g}, not {value}")
    return float(number)


def flag(value, what: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{what} must be true or false, not {value!r}")
    return value


def task(value) -> str | None:
    """None to detect the task from the instruction, else one of the edit tasks."""
    if value in (None, "", AUTO_TASK):
        return None
    if value not in EDIT_TASKS:
        raise InputError(f"unknown task {value!r}: choose '{AUTO_TASK}' or one of {', '.join(EDIT_TASKS)}")
    return value


def upload(payload, what: str, formats: str) -> Upload:
    """The file of an Image ({path, orig_name, ...}) or Video ({video: {...}}) payload."""
    if isinstance(payload, dict) and isinstance(payload.get("video"), dict):
        payload = payload["video"]
    if not isinstance(payload, dict) or not payload.get("path"):
        raise InputError(f"no {what}: upload one ({formats}) or pick an example")
    path = payload["path"]
    return Upload(path, payload.get("orig_name") or path.rsplit("/", 1)[-1])
