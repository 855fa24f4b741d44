"""The Model panel: which checkpoint every tab uses, its card and metrics, and loading
another checkpoint folder. Reading the panel never loads weights."""

import json
from dataclasses import dataclass

import gradio as gr

from studio.engine import Engine
from studio.ui.service import MODEL_HELP, Studio

INDEX_FIELDS = ("size", "base_size", "num_frames", "fps", "sample_rate_hz")


@dataclass
class ModelTab:
    tab: gr.Tab
    status: gr.Markdown


def status(engine: Engine) -> str:
    folder = engine.model_dir
    if not folder.is_dir():
        return f"**Checkpoint:** `{folder}` — **missing**. {MODEL_HELP}"
    lines = [f"**Checkpoint:** `{folder}`"]
    index_path = folder / "model_index.json"
    try:
        index = json.loads(index_path.read_text())
        lines.append("**Clip format:** " + ", ".join(f"{k} {index[k]}" for k in INDEX_FIELDS if k in index))
        lines.append("**Components:** " + ", ".join(index.get("components", [])))
    except (OSError, json.JSONDecodeError):
        lines.append(f"no readable model_index.json: not a Flipbook checkpoint. {MODEL_HELP}")
    if engine.loaded:
        lines.append(f"**Weights:** loaded · content hash `{engine.content_hash}`")
    else:
        lines.append("**Weights:** not loaded yet (they load on the first request)")
    return "\n\n".join(lines)


def card_and_metrics(engine: Engine) -> tuple[str, dict | None]:
    try:
        card, metrics = engine.card()
    except ValueError as error:
        return f"Cannot read the metrics: {error}", None
    return card or "*This checkpoint has no model card (README.md).*", metrics


def build_model_tab(studio: Studio) -> ModelTab:
    with gr.Tab("Model", id="model") as tab:
        status_view = gr.Markdown(status(studio.engine))
        with gr.Row(equal_height=True):
            folder = gr.Textbox(label="Load another checkpoint folder", placeholder="path/to/checkpoint", scale=4)
            load = gr.Button("Load", scale=1)
        card, metrics = card_and_metrics(studio.engine)
        with gr.Row():
            card_view = gr.Markdown(card, elem_id="model-card")
            metrics_view = gr.JSON(metrics, label="Metrics (metrics.json)")

    def refresh():
        engine = studio.engine
        return (status(engine), *card_and_metrics(engine))

    def load_folder(path, progress=gr.Progress()):
        progress(0, desc="Loading the checkpoint")
        engine = studio.use_model(path)
        gr.Info(f"Every tab now uses {engine.model_dir}.")
        return (status(engine), *card_and_metrics(engine))

    views = [status_view, card_view, metrics_view]
    tab.select(refresh, outputs=views, api_visibility="private", queue=False)
    load.click(load_folder, folder, views, api_visibility="private", concurrency_id="model")
    return ModelTab(tab, status_view)
