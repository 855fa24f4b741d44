"""The studio's Gradio Blocks app: the tabs, what passes between them, the queue and launch.

Building it reads no weights: the shared engine loads on the first request (or, after
`launch`, at once in its own process), so tests build the UI in a moment.
"""

import os
import signal
import threading

import gradio as gr

from studio.engine import model_dir_from_env
from studio.engine_process import EngineProcess
from studio.ui.candidates import random_seed
from studio.ui.edit_tab import EditTab, build_edit_tab
from studio.ui.generate_tab import GenerateTab, build_image_tab, build_text_tab
from studio.ui.inputs import Limits
from studio.ui.model_tab import build_model_tab
from studio.ui.outputs import OutputRoot
from studio.ui.service import Studio
from studio.world.spec import FPS, NUM_FRAMES

# Every 10 minutes, Gradio drops the copies it serves once they are an hour old.
GRADIO_CACHE_SWEEP = (600, 3600)
QUEUE_MAX_SIZE = 100  # waiting requests beyond this are refused with "queue full"
INTRO = ("# Flipbook\nShort clips with sound from text, from an image, or by editing a video — "
         "with models trained on the Shapes World.")


def limits_text(limits: Limits) -> str:
    return (f"Limits: uploads up to {limits.max_upload_mb} MB (longer videos are trimmed to their first "
            f"{NUM_FRAMES / FPS:g} s and any size is centre-cropped, with a notice) · prompts up to "
            f"{limits.max_prompt_chars} characters · 1–{limits.max_steps} steps · 1–{limits.max_candidates} "
            f"candidates · guidance 0–{limits.max_guidance:g}.")


def _send_to_edit(video: str | None):
    if not video:
        raise gr.Error("There is no clip here yet: generate one first.", print_exception=False)
    return video, gr.Tabs(selected="edit")


def _wire_tabs(studio: Studio, tabs: gr.Tabs, text: GenerateTab, image: GenerateTab, edit: EditTab) -> None:
    """Buttons that carry a clip to another tab: 'Send to Edit' from both generation tabs,
    'Animate a frame' from Text → Video."""
    for slot in text.slots + image.slots:
        slot.buttons["edit"].click(_send_to_edit, slot.video, [edit.source, tabs], api_visibility="private",
                                   queue=False)

    def animate_frame(video, index):
        return str(studio.frame(video, index)), gr.Tabs(selected="image")

    for slot in text.slots:
        slot.buttons["frame"].click(animate_frame, [slot.video, text.frame], [image.image, tabs],
                                    api_visibility="private", queue=False)


def build_ui(studio: Studio) -> gr.Blocks:
    limits = studio.limits
    with gr.Blocks(title="Flipbook", delete_cache=GRADIO_CACHE_SWEEP) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs() as tabs:
            text = build_text_tab(studio)
            image = build_image_tab(studio)
            edit = build_edit_tab(studio)
            build_model_tab(studio)
        gr.Markdown(limits_text(limits), elem_id="limits")
        _wire_tabs(studio, tabs, text, image, edit)
        seeds = [text.seed, image.seed, edit.seed]
        demo.load(lambda: [random_seed() for _ in seeds], outputs=seeds, api_visibility="private", queue=False)
    concurrency = int(os.environ.get("FLIPBOOK_CONCURRENCY", "1"))
    demo.queue(default_concurrency_limit=concurrency, max_size=QUEUE_MAX_SIZE)
    return demo


def build_app(model_dir: str | os.PathLike | None = None, limits: Limits = Limits(),
              outputs: OutputRoot | None = None) -> gr.Blocks:
    return build_ui(Studio(model_dir_from_env(model_dir), outputs, limits))


def launch(model: str | os.PathLike | EngineProcess | None = None, **launch_kwargs):
    """Build and serve the app; server name and port come from GRADIO_SERVER_NAME and
    GRADIO_SERVER_PORT unless given. Requests run in an `EngineProcess` (a folder starts one),
    loading in the background: app.py starts it before gradio is imported, so loading and
    the server coming up share the two cores (README, Speed)."""
    engine = model if isinstance(model, EngineProcess) else EngineProcess(model_dir_from_env(model))
    studio = Studio(engine)
    demo = build_ui(studio)
    if engine.model_dir.is_dir():
        threading.Thread(target=_preload, args=(studio,), daemon=True).start()
    if threading.current_thread() is threading.main_thread():
        _stop_on_signals()
    return demo.launch(max_file_size=f"{studio.limits.max_upload_mb}mb", **launch_kwargs)


def _stop_on_signals() -> None:
    """SIGINT and SIGTERM both close the server and then run the exit clean-up (the request
    folders go): a Space is stopped with SIGTERM, and a shell that starts the app in the
    background hands it SIGINT ignored."""
    def stop(signum, frame):
        raise KeyboardInterrupt

    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, stop)


def _preload(studio: Studio) -> None:
    try:
        studio.ready_engine()
    except gr.Error:
        pass  # the first request reports it
