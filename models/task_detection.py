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


def reshape_parts(instruction: str) -> tuple[str, str] | None:
    """(the words naming the object, the phrase naming its new shape) of a reshape instruction,
    split at its last "a", "an" or "one" ("turn the circle into a square" -> ("turn the circle
    into", "a square")), or None where it has no such word with words before and after it. The
    first picks the object (the new shape's word would name another object of that shape), the
    generator draws the second (README: Add and reshape by generation)."""
    words, starts = _articles(instruction)
    if not starts or not 0 < starts[-1] < len(words) - 1:
        return None
    return " ".join(words[:starts[-1]]), " ".join(words[starts[-1]:])


def recolour_parts(instruction: str) -> tuple[str, str] | None:
    """(the instruction less its last colour word, the phrase naming the object in that colour)
    of a recolor instruction ("paint the cyan square red" -> ("paint the cyan square", "a red
    square")), or None where it names no colour or no shape. The first picks the object (the
    new colour's word would name another object of that colour), the generator draws the second,
    for its colour (README: Recolour by generation)."""
    words = _words(instruction)
    colours = [i for i, word in enumerate(words) if re.fullmatch(COLOUR_WORDS, word)]
    if not colours:
        return None
    rest = words[:colours[-1]] + words[colours[-1] + 1:]
    shapes = [word for word in rest if re.fullmatch(SHAPE_WORDS, word)]
    if not shapes:
        return None
    return " ".join(rest), f"a {words[colours[-1]]} {shapes[-1]}"
