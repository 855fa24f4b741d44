"""A row of candidate clips shown side by side, each with its seed and its own buttons, and
the small controls every request tab shares (seed with a random button, candidate count)."""

import secrets
from dataclasses import dataclass, field

import gradio as gr

from studio.ui.inputs import Limits
from studio.ui.service import RANDOM_SEED_BOUND, Outcome


VIDEO_HEIGHT_PX = 300


@dataclass
class Slot:
    column: gr.Column
    video: gr.Video
    buttons: dict[str, gr.Button] = field(default_factory=dict)


def candidate_row(limits: Limits, buttons: dict[str, str], label: str = "Candidate") -> list[Slot]:
    """`limits.max_candidates` video slots (all but the first hidden); `buttons` maps a key to
    the caption of a button under every clip."""
    slots = []
    for i in range(limits.max_candidates):
        with gr.Column(visible=i == 0, min_width=200) as column:
            video = gr.Video(label=f"{label} {i + 1}", interactive=False, buttons=["download"],
                             height=VIDEO_HEIGHT_PX, elem_classes=["candidate"])
            slot_buttons = {key: gr.Button(caption, size="sm") for key, caption in buttons.items()}
        slots.append(Slot(column, video, slot_buttons))
    return slots


def video_values(outcome: Outcome, limits: Limits) -> list[str | None]:
    """One value per slot: the candidate's mp4 path, None for the rest. Plain paths, so an API
    caller's first output is the mp4 itself."""
    paths = [str(path) for path in outcome.videos]
    return paths + [None] * (limits.max_candidates - len(paths))


def seed_labels(num_slots: int, label: str = "Candidate"):
    """A handler giving each slot a label naming its seed (candidate i has seed + i); run after
    a request, on the seed box it filled in and the candidate count."""
    def labels(first_seed, count):
        named = isinstance(first_seed, int) and isinstance(count, (int, float))
        return [gr.Video(label=f"{label} {i + 1} · seed {first_seed + i}" if named and i < count
                         else f"{label} {i + 1}") for i in range(num_slots)]
    return labels


def summary(outcome: Outcome) -> str:
    """One line on what was made and how, then what was done to the inputs."""
    record = outcome.result.record
    guidance = (f"guidance {record['guidance']:g} (sound {record['audio_guidance']:g})" if "guidance" in record
                else f"text guidance {record['text_guidance']:g}, video guidance {record['video_guidance']:g}")
    seeds = ", ".join(str(s) for s in outcome.seeds)
    lines = [f"**{len(outcome.videos)} clip(s)** in {outcome.seconds:.1f} s · task `{outcome.result.task}` · "
             f"seed(s) {seeds} · {record['steps']} steps · {guidance}"]
    lines += [f"- note: {note}" for note in outcome.result.notes]
    return "\n".join(lines)


def notify(outcome: Outcome) -> None:
    """What was done to the inputs (trimmed, cropped, resampled) as notices on the page."""
    for note in outcome.result.notes:
        gr.Warning(f"Input: {note}.")


def random_seed() -> int:
    return secrets.randbelow(RANDOM_SEED_BOUND)


def seed_controls() -> gr.Number:
    """The seed box and its random button. The box starts empty (for the API: a random seed);
    the page fills it with a random seed on load, and each request writes back the seed used."""
    with gr.Row(equal_height=True):
        seed = gr.Number(label="Seed", value=None, precision=0, scale=3,
                         info="the seed used is shown here; candidate i uses seed + i")
        dice = gr.Button("Random seed", scale=1, size="sm")
    dice.click(random_seed, outputs=seed, queue=False, api_visibility="private")
    return seed


def candidates_slider(limits: Limits) -> gr.Slider:
    return gr.Slider(1, limits.max_candidates, value=1, step=1, label="Candidates", info="shown side by side")


def link_count(count: gr.Slider, slots: list[Slot]) -> None:
    """Show as many slots as the slider asks for."""
    def show(n):
        return [gr.Column(visible=isinstance(n, (int, float)) and i < n) for i in range(len(slots))]
    count.change(show, count, [s.column for s in slots], queue=False, api_visibility="private")
