"""The Text → Video and Image + Text → Video tabs, and their API endpoints `text_to_video`
and `image_to_video` (the first output is the mp4 of candidate 1)."""

import inspect
from dataclasses import dataclass

import gradio as gr

from studio.engine import Engine
from studio.ui.candidates import (Slot, candidate_row, candidates_slider, link_count, notify, seed_controls,
                                  seed_labels, summary, video_values)
from studio.ui.examples import example_images, example_prompts
from studio.ui.service import Studio
from studio.world.spec import NUM_FRAMES

DEFAULTS = {name: p.default for name, p in inspect.signature(Engine.generate).parameters.items()}
PROMPT_PLACEHOLDER = "a large red circle moving left on a navy background"


@dataclass
class GenerateTab:
    tab: gr.Tab
    prompt: gr.Textbox
    seed: gr.Number
    slots: list[Slot]
    image: gr.Image | None = None  # the Image + Text tab's input
    frame: gr.Slider | None = None  # which frame "Animate a frame" takes


def _settings(studio: Studio, prompt_label: str):
    """Prompt, negative prompt, seed, candidates, steps and guidance, in the tab's layout."""
    limits = studio.limits
    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(label=prompt_label, lines=2, placeholder=PROMPT_PLACEHOLDER,
                                max_length=limits.max_prompt_chars)
            negative = gr.Textbox("", label="Negative prompt", placeholder="what to steer away from",
                                  max_length=limits.max_prompt_chars)
        with gr.Column(scale=2):
            seed = seed_controls()
            count = candidates_slider(limits)
    with gr.Row():
        steps = gr.Slider(1, limits.max_steps, value=DEFAULTS["steps"], step=1, label="Steps")
        guidance = gr.Slider(0, limits.max_guidance, value=DEFAULTS["guidance"], step=0.5, label="Guidance",
                             info="how closely to follow the prompt")
    return prompt, negative, seed, count, steps, guidance


def _results(studio: Studio, kind: str, frame_button: bool):
    info = gr.Markdown()
    buttons = {"edit": "Send to Edit →"}
    if frame_button:
        buttons["frame"] = "Animate a frame →"
    with gr.Row(equal_height=True, elem_id=f"{kind}-results"):
        slots = candidate_row(studio.limits, buttons)
    return info, slots


def build_text_tab(studio: Studio) -> GenerateTab:
    limits = studio.limits
    with gr.Tab("Text → Video", id="text") as tab:
        prompt, negative, seed, count, steps, guidance = _settings(studio, "Prompt")
        run = gr.Button("Generate", variant="primary", elem_id="text-run")
        gr.Examples(example_prompts(), inputs=prompt, label="Example prompts")
        info, slots = _results(studio, "text", frame_button=True)
        frame = gr.Slider(1, NUM_FRAMES, value=1, step=1, label="Frame to animate",
                          info="'Animate a frame' starts Image + Text → Video from this frame of the clip")
    link_count(count, slots)

    def text_to_video(prompt, seed=None, negative_prompt="", steps=DEFAULTS["steps"], guidance=DEFAULTS["guidance"],
                      candidates=1, progress=gr.Progress()):
        """A 2-second clip with sound from a prompt.

        Parameters:
            prompt: what the clip shows, e.g. 'a red circle moving left on a navy background'
            seed: whole number from 0 to 2^63 - 1; empty for a random one (returned)
            negative_prompt: what to steer away from
            steps: sampling steps
            guidance: classifier-free guidance scale
            candidates: clips to make (seed, seed + 1, ...)
        """
        outcome = studio.generate(prompt, seed, negative_prompt, steps, guidance, candidates, progress=progress)
        notify(outcome)
        return (*video_values(outcome, limits), outcome.seeds[0], summary(outcome))

    videos = [s.video for s in slots]
    gr.on([run.click, prompt.submit], text_to_video, inputs=[prompt, seed, negative, steps, guidance, count],
          outputs=[*videos, seed, info], api_name="text_to_video", preprocess=False, concurrency_id="model"
          ).success(seed_labels(len(slots)), [seed, count], videos, api_visibility="private", queue=False)
    return GenerateTab(tab, prompt, seed, slots, frame=frame)


def build_image_tab(studio: Studio) -> GenerateTab:
    limits = studio.limits
    with gr.Tab("Image + Text → Video", id="image") as tab:
        with gr.Row():
            image = gr.Image(label="First frame", type="filepath", sources=["upload", "clipboard"],
                             height=256, scale=1, elem_id="image-input")
            with gr.Column(scale=2):
                prompt, negative, seed, count, steps, guidance = _settings(studio, "Prompt (what happens next)")
        run = gr.Button("Animate", variant="primary", elem_id="image-run")
        gr.Examples(example_images(), inputs=[image, prompt], label="Example images")
        info, slots = _results(studio, "image", frame_button=False)
    link_count(count, slots)

    def image_to_video(image, prompt, seed=None, negative_prompt="", steps=DEFAULTS["steps"],
                       guidance=DEFAULTS["guidance"], candidates=1, progress=gr.Progress()):
        """A 2-second clip with sound that starts from an image (centre-cropped to a square).

        Parameters:
            image: the first frame (png, jpg, webp, ...)
            prompt: what happens in the clip
            seed: whole number from 0 to 2^63 - 1; empty for a random one (returned)
            negative_prompt: what to steer away from
            steps: sampling steps
            guidance: classifier-free guidance scale
            candidates: clips to make (seed, seed + 1, ...)
        """
        outcome = studio.generate(prompt, seed, negative_prompt, steps, guidance, candidates, image=image,
                                  with_image=True, progress=progress)
        notify(outcome)
        return (*video_values(outcome, limits), outcome.seeds[0], summary(outcome))

    videos = [s.video for s in slots]
    gr.on([run.click, prompt.submit], image_to_video, inputs=[image, prompt, seed, negative, steps, guidance, count],
          outputs=[*videos, seed, info], api_name="image_to_video", preprocess=False, concurrency_id="model"
          ).success(seed_labels(len(slots)), [seed, count], videos, api_visibility="private", queue=False)
    return GenerateTab(tab, prompt, seed, slots, image=image)
