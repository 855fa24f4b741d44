"""Which edit an instruction asks for: a rule-based classifier over its words.

Rules, not a trained model, because the tasks are few and named by a small vocabulary; the
order matters ("remove the colours" is `style`, not `remove`; "a gray background" is
`background`, not `style`). Its accuracy on wordings it was not written from is measured in
tests/test_pipelines.py.
"""

import re

# Words after the object in an add instruction that say where or that it is one more, not what it is.
ADD_TAIL = r"\s+((in|into|to|on) (the|this) (scene|video|clip|frame|picture)|too|as well|also)$"
SHAPE_WORDS = r"(circle|square|triangle|disc|disk|ball|dot|box|block|rectangle|pyramid|wedge)"
# The size a new shape or colour is drawn at (`reshape_phrase`, `recolour_phrase`), and a small
# object (`object_composition.drawn_size`): the generator draws small shapes round, and the drawing
# gives only a shape (scaled to the object) or a colour, or an object laid out at its own size.
DRAWN_SIZE = "large"
SIZE_WORDS = ("small", "large")
# Where an added object is asked to go, as (rows, columns) per frame in sign alone.
MOTION_WORDS = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0), "still": (0, 0)}
COLOUR_WORDS = (r"(red|orange|yellow|green|cyan|blue|purple|violet|white|crimson|scarlet|teal|turquoise|gold|golden|"
                r"lime|navy|indigo|snow)")
RULES = (
    ("reverse", r"\b(backwards?|reverse[ds]?|rewind|in reverse)\b"),
    ("background", r"\b(background|backdrop|behind)\b"),
    ("style", r"\b(gr[ae]y\s?scale|gr[ae]y|black[- ]and[- ]white|monochrome|desaturate[ds]?|colou?rless|"
              r"(drain|remove|strip|take away) (all )?(the )?colou?rs?|no colou?rs?)\b"),
    ("segment", r"\b(highlight|segment|mark|select|mask|outline|show where|point out|locate)\b"),
    ("remove", r"\b(remove|delete|take out|take (the |a )?(\w+ )?\w+ out|get rid of|erase|disappear|vanish|"
               r"without)\b"),
    ("add", r"\b(add|insert|introduce|include|also show|place|put)\b"),
    ("reshape", rf"\b(reshape|morph|(into|become|becomes|be|as|with|to|a|an)\s+(a |an )?{SHAPE_WORDS}s?)\b"),
    ("recolor", rf"\b(colou?r|recolou?r|paint|{COLOUR_WORDS})\b"),
)


def detect_task(instruction: str) -> str | None:
    """The edit task an instruction names, or None when no rule matches."""
    text = " ".join(instruction.lower().split())
    for task, pattern in RULES:
        if re.search(pattern, text):
            return task
    return None


def _words(instruction: str) -> list[str]:
    """The instruction's words, lower-case, without closing punctuation."""
    return " ".join(instruction.lower().split()).rstrip(" .!").split(" ")


def _articles(instruction: str) -> tuple[list[str], list[int]]:
    """The instruction's words and where each "a", "an" or "one" stands."""
    words = _words(instruction)
    return words, [i for i, word in enumerate(words) if word in ("a", "an", "one")]


def added_object(instruction: str) -> str | None:
    """The phrase naming the object an add instruction asks for, from its first "a", "an" or
    "one" ("put a red circle moving left in the scene" -> "a red circle moving left"), or None
    where no such word starts it: what the generator is asked to draw (README: Add and
    reshape by generation)."""
    words, starts = _articles(instruction)
    if not starts:
        return None
    return re.sub(ADD_TAIL, "", " ".join(words[starts[0]:])) or None


def named_motion(phrase: str) -> tuple[int, int] | None:
    """The direction (rows, columns) in sign alone of the last motion word of a phrase ("a small
    red circle moving left" -> (0, -1); "staying still" -> (0, 0)), or None where it names none."""
    words = [word for word in _words(phrase) if word in MOTION_WORDS]
    return MOTION_WORDS[words[-1]] if words else None


def named_size(phrase: str) -> str | None:
    """The last size word of a phrase ("a small red circle" -> "small"), or None where it names none."""
    words = [word for word in _words(phrase) if word in SIZE_WORDS]
    return words[-1] if words else None


def _reference(text: str) -> re.Match | None:
    """In lower-cased words, the last "the" before the first shape word, through that word."""
    return re.search(rf"\bthe ((?:(?!(?:the|a|an)\b)\w+ )*?{SHAPE_WORDS})\b", text)


def object_reference(instruction: str) -> tuple[str, str] | None:
    """(the phrase naming the object an instruction is about, its shape word), or None where no
    "the ... {shape}" names one: the words from the last "the" before the first shape word
    through that word, "the" made "a" ("change the colour of the cyan square to red" -> ("a
    cyan square", "square")). What the object is picked by (`EditPipeline.named_object`): the
    rest of an instruction names what it is to become, as another object might be."""
    match = _reference(" ".join(_words(instruction)))
    return (f"a {match.group(1)}", match.group(2)) if match else None


def reshape_phrase(instruction: str) -> str | None:
    """What the generator draws for a reshape instruction: the shape its last "a", "an" or "one"
    names, at `DRAWN_SIZE` ("turn the circle into a square" -> "a large square"; a shape word
    the rules do not know stays as written: "a star"), or None where it has no such word with
    words before and after it (README: Add and reshape by generation)."""
    words, starts = _articles(instruction)
    if not starts or not 0 < starts[-1] < len(words) - 1:
        return None
    phrase = words[starts[-1]:]
    shapes = [word for word in phrase if re.fullmatch(SHAPE_WORDS, word)]
    return f"a {DRAWN_SIZE} {shapes[0]}" if shapes else " ".join(phrase)


def recolour_phrase(instruction: str) -> str | None:
    """What the generator draws for a recolor instruction: the object it names
    (`object_reference`) at `DRAWN_SIZE` in the last colour word after that ("paint the cyan
    square red" -> "a large red square"), or None where it names no such object or colour. The
    drawing gives the colour, and the object's shape to tell it from others by (README: Recolour
    by generation)."""
    text = " ".join(_words(instruction))
    match = _reference(text)
    colours = re.findall(rf"\b{COLOUR_WORDS}\b", text[match.end():]) if match else []
    return f"a {DRAWN_SIZE} {colours[-1]} {match.group(2)}" if colours else None
