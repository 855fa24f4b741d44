"""The Edit tab and its API endpoint `edit_video`: results side by side with the source, the
comparison board of every edit of that source, and editing a result again."""

import inspect
from dataclasses import dataclass

import gradio as gr

from models.task_detection import detect_task
from studio.engine import Engine
from studio.ui import board
from studio.ui.candidates import (VIDEO_HEIGHT_PX, Slot, candidate_row, candidates_slider, link_count, notify,
                                  seed_controls, seed_labels, summary, video_values)
from studio.ui.examples import example_clips
from studio.ui.inputs import AUTO_TASK
from studio.ui.service import Studio
from studio.world.spec import EDIT_TASKS

DEFAULTS = {name: p.default for name, p in inspect.signature(Engine.edit).parameters.items()}


@dataclass
class EditTab:
    tab: gr.Tab
    source: gr.Video
    seed: gr.Number
    slots: list[Slot]


def detected_task(instruction: str | None) -> str:
    task = detect_task(instruction or "")
    if task:
        return f"Detected task: **{task}**"
    return "Detected task: none yet — name the change (colour, shape, background, remove, add, highlight, ...) " \
           "or choose a task"


def build_edit_tab(studio: Studio) -> EditTab:
    limits = studio.limits
    with gr.Tab("Edit", id="edit") as tab:
        with gr.Row():
            source = gr.Video(label="Source video", sources=["upload"], height=256, scale=1, elem_id="edit-source")
            with gr.Column(scale=2):
                instruction = gr.Textbox(label="Instruction", placeholder="make the circle blue", lines=1,
                                         max_length=limits.max_prompt_chars)
                with gr.Row(equal_height=True):
                    task_info = gr.Markdown(detected_task(""))
                    task = gr.Dropdown([AUTO_TASK, *EDIT_TASKS], value=AUTO_TASK, label="Task",
                                       info="'auto' uses the detected task")
                with gr.Row():
                    with gr.Column():
                        seed = seed_controls()
                    count = candidates_slider(limits)
        with gr.Row():
            steps = gr.Slider(1, limits.max_steps, value=DEFAULTS["steps"], step=1, label="Steps")
            text_guidance = gr.Slider(0, limits.max_guidance, value=DEFAULTS["text_guidance"], step=0.5,
                                      label="Text guidance", info="how strongly to follow the instruction")
            video_guidance = gr.Slider(0, limits.max_guidance, value=DEFAULTS["video_guidance"], step=0.25,
                                       label="Source-video guidance", info="how closely to keep the source")
            keep_audio = gr.Checkbox(value=DEFAULTS["keep_audio"], label="Keep the source audio",
                                     info="off: regenerate the audio to match the edit (with the shipped "
                                          "models, an added object's tone is mixed in; a reshape or recolor keeps it)")
            keep_pixels = gr.Checkbox(value=DEFAULTS["keep_unedited_pixels"], label="Keep unedited pixels",
                                      info="edits of one object: pixels it left nearly alone stay the source's "
                                           "(recolor, segment, background, style: all but the colours it changed; "
                                           "reverse: the source's frames in the edit's order)")
        run = gr.Button("Edit", variant="primary", elem_id="edit-run")
        gr.Examples(example_clips(), inputs=[source, instruction], label="Example sources")
        info = gr.Markdown()
        with gr.Row(equal_height=True, elem_id="edit-results"):
            with gr.Column(min_width=200):
                source_view = gr.Video(label="Source (as the model sees it)", interactive=False,
                                       height=VIDEO_HEIGHT_PX, elem_classes=["candidate"])
            slots = candidate_row(limits, {"again": "Edit this again ↺"}, label="Edit")

        gr.Markdown("### Comparison board\nEvery edit of this source; pick any two to see them side by side.")
        chain = gr.Markdown()
        table = gr.Dataframe(headers=board.HEADERS, value=None, interactive=False, wrap=True,
                             column_widths=board.COLUMN_WIDTHS, elem_id="edit-board")
        with gr.Row():
            pick_left = gr.Dropdown([], label="Left", value=None)
            pick_right = gr.Dropdown([], label="Right", value=None)
        with gr.Row(equal_height=True, elem_id="edit-compare"):
            left = gr.Video(label="Left", interactive=False, height=VIDEO_HEIGHT_PX)
            right = gr.Video(label="Right", interactive=False, height=VIDEO_HEIGHT_PX)
        board_state, last_outcome = gr.State(None), gr.State(None)
    link_count(count, slots)
    instruction.change(detected_task, instruction, task_info, queue=False, api_visibility="private",
                       show_progress="hidden")

    def edit_video(video, instruction, seed=None, task=AUTO_TASK, steps=DEFAULTS["steps"],
                   text_guidance=DEFAULTS["text_guidance"], video_guidance=DEFAULTS["video_guidance"], candidates=1,
                   keep_audio=DEFAULTS["keep_audio"], keep_unedited_pixels=DEFAULTS["keep_unedited_pixels"],
                   progress=gr.Progress()):
        """Edit a video by an instruction (any video is trimmed to 2 s and centre-cropped first).

        Parameters:
            video: the source video
            instruction: what to change, e.g. 'make the circle blue'
            seed: whole number from 0 to 2^63 - 1; empty for a random one (returned)
            task: 'auto' (detected from the instruction) or one of recolor, reshape, background, remove, add,
                segment, style, reverse
            steps: sampling steps
            text_guidance: how strongly to follow the instruction
            video_guidance: how closely to keep the source
            candidates: edits to make (seed, seed + 1, ...)
            keep_audio: keep the source audio instead of regenerating it
            keep_unedited_pixels: in an edit of one object (recolor, reshape, remove, add, segment), give the
                pixels it left nearly alone the source's exact values (recolor, segment, background and
                style: the source with the colours the edit changed, on the source's own outlines; reverse:
                the source's frames in the order the edit shows them)
        """
        outcome = studio.edit(video, instruction, seed, task, steps, text_guidance, video_guidance, candidates,
                              keep_audio, keep_unedited_pixels, progress=progress)
        notify(outcome)
        return (*video_values(outcome, limits), str(outcome.source_video), outcome.seeds[0], summary(outcome),
                outcome)

    def show_board(state, outcome, first_seed, count):
        """After the request: the judge's verdicts (kept off the API's path) and the board."""
        state = board.add(state, board.edit_entries(outcome))
        newest = board.choices(state)[-1][1]
        return (state, board.rows(state), board.chain_text(state),
                gr.Dropdown(choices=board.choices(state), value=board.SOURCE),
                gr.Dropdown(choices=board.choices(state), value=newest),
                board.video_of(state, board.SOURCE), board.video_of(state, newest), *label_slots(first_seed, count))

    label_slots = seed_labels(len(slots), label="Edit")
    videos = [s.video for s in slots]

    gr.on([run.click, instruction.submit], edit_video,
          inputs=[source, instruction, seed, task, steps, text_guidance, video_guidance, count, keep_audio,
                  keep_pixels],
          outputs=[*videos, source_view, seed, info, last_outcome], api_name="edit_video",
          preprocess=False, concurrency_id="model"
          ).success(show_board, [board_state, last_outcome, seed, count],
                    [board_state, table, chain, pick_left, pick_right, left, right, *videos],
                    api_visibility="private", queue=False)
    pick_left.change(board.video_of, [board_state, pick_left], left, api_visibility="private", queue=False)
    pick_right.change(board.video_of, [board_state, pick_right], right, api_visibility="private", queue=False)
    for slot in slots:
        slot.buttons["again"].click(_edit_again, slot.video, source, api_visibility="private", queue=False)
    return EditTab(tab, source, seed, slots)


def _edit_again(video: str | None):
    if not video:
        raise gr.Error("There is no edit here yet: run one first.", print_exception=False)
    gr.Info("The edit is now the source: write the next instruction.")
    return video
