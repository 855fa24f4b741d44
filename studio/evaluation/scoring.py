"""Scoring a clip the judge read against what it should show: a scene, or an edit's target.

Used by evaluation (the quality bars) and by training stage III (which backtranslated edits
to accept).
"""

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from studio.evaluation.judge import MARKER, ClipReport
from studio.world import spec
from studio.world.edits import Edit
from studio.world.scene import Scene

ATTRIBUTES = ("colour", "shape", "size", "motion")
OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up", "still": "still"}


@dataclass(frozen=True)
class Expected:
    """What a clip should show: a scene, maybe grayscale, maybe one object painted marker.

    `positions_free`: the request placed no object (text -> video, an added object), so the
    scene's start positions are one draw of many right ones and objects are paired by what
    they are, not by where they start.
    """

    scene: Scene
    grayscale: bool = False
    marker_index: int | None = None
    positions_free: bool = False


@dataclass
class Verdict:
    checks: dict[str, bool]  # background, count, and each attribute over all objects

    @property
    def all_ok(self) -> bool:
        return all(self.checks.values())


def reversed_scene(scene: Scene) -> Scene:
    """The scene a reversed clip shows: each object starts where it ended and moves back."""
    objects = []
    for obj in scene.objects:
        x_end, y_end = obj.centres()[-1]
        objects.append(replace(obj, motion=OPPOSITE[obj.motion], x0=float(x_end), y0=float(y_end)))
    return Scene(scene.background, tuple(objects))


def expected_after(edit: Edit) -> Expected:
    if edit.task == "reverse":
        return Expected(reversed_scene(edit.source))
    if edit.task == "style":
        return Expected(edit.source, grayscale=True)
    if edit.task == "segment":
        return Expected(edit.source, marker_index=edit.object_index)
    return Expected(edit.target, positions_free=edit.task == "add")


def _match(report: ClipReport, scene: Scene, positions_free: bool) -> list[tuple[int, int]]:
    """Pair scene objects with reported ones by first-frame centre or, where positions are
    free, by the fewest disagreeing attributes (distance only breaks ties)."""
    scale = report.frame_size_px / spec.REFERENCE_SIZE_PX
    truth = np.array([[o.x0, o.y0] for o in scene.objects]) * scale
    seen = np.array([np.nan_to_num(o.centres_px[~np.isnan(o.centres_px[:, 0])][0], nan=1e3)
                     for o in report.objects]).reshape(-1, 2)
    if not len(truth) or not len(seen):
        return []
    cost = np.linalg.norm(truth[:, None] - seen[None], axis=-1)
    if positions_free:
        disagreements = np.array([[sum(getattr(want, a) != getattr(got, a) for a in ATTRIBUTES)
                                   for got in report.objects] for want in scene.objects])
        cost = disagreements + cost / (cost.max() + 1) / 10  # ties: fractions of one attribute
    rows, cols = linear_sum_assignment(cost)
    return list(zip(rows.tolist(), cols.tolist()))


def score(report: ClipReport, expected: Expected) -> Verdict:
    scene = expected.scene
    checks = {"count": len(report.objects) == len(scene.objects)}
    checks["background"] = expected.grayscale or report.background == scene.background
    if expected.grayscale:
        checks["grayscale"] = report.is_grayscale
    pairs = _match(report, scene, expected.positions_free)
    for attribute in ATTRIBUTES:
        ok = len(pairs) == len(scene.objects)
        for i, j in pairs:
            want = getattr(scene.objects[i], attribute)
            got = getattr(report.objects[j], attribute)
            if attribute == "colour":
                if expected.grayscale:
                    continue
                if expected.marker_index == i:
                    want = MARKER
            ok &= want == got
        checks[attribute] = bool(ok)
    return Verdict(checks)
