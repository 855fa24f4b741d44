"""How much the generator listens to each attribute word of a caption.

On true one-object Shapes World clips, the base denoiser's loss with the caption as written is
compared with its loss when one attribute's word is swapped (colour, shape, size, motion
direction, background), at a few noise levels, with the same noise. A word the model uses
raises the loss when swapped; a word it ignores does not. This is how the README's "Where the
quality is lost" found that the direction words barely move the shipped generator from text
alone, while they do once the clip's true first frame is given (`--first-frame`, the
image-to-video condition). With `--binding` the clips have two objects, and each attribute on
which they differ is exchanged between them: the caption keeps its words and binds them the
other way round, so a model that reads a caption as a bag of attributes shows no difference
(README, Two objects).

Run: python -m studio.evaluation.word_sensitivity [--model assets/shapes] [--clips 40] [--first-frame] [--binding]
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from tqdm import tqdm

from models.pipelines import GeneratePipeline, load_components
from models.pipelines.studio_pipeline import encode_audio, encode_video, frames_to_tensor
from studio.evaluation.text_probe import ATTRIBUTES, CLASSES
from studio.world import spec
from studio.world.captions import caption
from studio.world.render import render_clip
from studio.world.scene import ATTRIBUTES as OBJECT_ATTRIBUTES, DEFAULT_HOLDOUT, sample_scene
from models.noise_path import noisy_and_target, training_scheduler

REPO_ROOT = Path(__file__).resolve().parents[2]
NOISE_LEVELS = (500, 800, 950)  # timesteps in the scheduler's units (1000 = pure noise)
OPPOSITE = {m: next(o for o, (x, y) in spec.MOTION_DIRECTION.items() if (x, y) == (-dx, -dy) and o != m)
            for m, (dx, dy) in spec.MOTION_DIRECTION.items() if m != "still"}
SEED = 20261122


def swapped(scene, attribute: str, rng: np.random.Generator):
    """The scene with `attribute` changed: the opposite direction for motion, else another value."""
    if attribute == "background":
        return type(scene)(str(rng.choice([b for b in CLASSES["background"] if b != scene.background])), scene.objects)
    current = getattr(scene.objects[0], attribute)
    value = OPPOSITE[current] if attribute == "motion" else rng.choice([v for v in CLASSES[attribute] if v != current])
    return scene.with_object(0, **{attribute: str(value)})


def schedule_index(scheduler, timestep: int) -> int:
    """Index into the training scheduler's tables (what `noisy_and_target` takes) of a timestep."""
    if isinstance(scheduler, FlowMatchEulerDiscreteScheduler):
        return int(torch.argmin((scheduler.timesteps - timestep).abs()))
    return timestep


@torch.no_grad()
def word_sensitivity(components: dict, clip_format: dict, clips: int, first_frame: bool = False,
                     binding: bool = False, seed: int = SEED) -> dict:
    """attribute -> {timestep: (mean loss as written, mean loss swapped, share of clips where
    the written caption's loss is lower)}; with `first_frame`, the denoiser is given each clip's
    true first frame as image-to-video gives it; with `binding`, two-object clips and
    attributes exchanged between the objects (those on which a clip's objects differ)."""
    model, encoder = components["transformer"], components["text_encoder"]
    pipe = GeneratePipeline(**{name: components[name] for name in ("text_encoder", "video_vae", "audio_vae",
                                                                   "transformer", "scheduler")}, **clip_format)
    scheduler = training_scheduler(components["scheduler"])
    rng, generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    losses = {a: {t: [] for t in NOISE_LEVELS} for a in (OBJECT_ATTRIBUTES if binding else ATTRIBUTES)}  # (written, swapped)
    with tqdm(total=clips, desc="word sensitivity", unit="clip") as bar:
        while bar.n < clips:
            scene = sample_scene(rng, holdout=DEFAULT_HOLDOUT, split="train")
            if binding and len(scene.objects) == 2:
                first, second = scene.objects
                alternatives = {name: scene.exchanged(name) for name in OBJECT_ATTRIBUTES
                                if getattr(first, name) != getattr(second, name)}
            elif not binding and len(scene.objects) == 1 and scene.objects[0].motion != "still":
                alternatives = {name: swapped(scene, name, rng) for name in ATTRIBUTES}  # every word swappable
            else:
                continue
            truth = render_clip(scene, clip_format["size"])
            frames = frames_to_tensor(truth.frames[None], clip_format["base_size"])
            video = encode_video(components["video_vae"], frames)
            audio = encode_audio(components["audio_vae"], truth.audio[None])
            cond = pipe.image_condition(truth.frames[0] if first_frame else None, 1, clip_format["base_size"])
            for attribute, other in alternatives.items():
                text = encoder.encode([caption(scene), caption(other)])
                for t in NOISE_LEVELS:
                    index = torch.tensor([schedule_index(scheduler, t)])
                    noise_v = torch.randn(video.shape, generator=generator)
                    noise_a = torch.randn(audio.shape, generator=generator)
                    noisy_v, timestep, target_v = noisy_and_target(scheduler, video, noise_v, index)
                    noisy_a, _, _ = noisy_and_target(scheduler, audio, noise_a, index)
                    out = model(noisy_v.repeat(2, 1, 1, 1, 1), timestep.repeat(2), text.tokens, text.mask, text.pooled,
                                audio_latents=noisy_a.repeat(2, 1, 1), video_cond=cond.repeat(2, 1, 1, 1, 1))
                    error = (out.video - target_v).pow(2).mean(dim=(1, 2, 3, 4))  # (2,): written, swapped
                    losses[attribute][t].append(error.tolist())
            bar.update()
    return {a: {t: (float(np.mean([w for w, _ in v])), float(np.mean([s for _, s in v])),
                    float(np.mean([w < s for w, s in v]))) for t, v in levels.items()}
            for a, levels in losses.items() if levels[NOISE_LEVELS[0]]}


def table(result: dict) -> str:
    rows = ["| attribute swapped | timestep | loss as written | loss swapped | increase | written lower |",
            "|---|---|---|---|---|---|"]
    for attribute, levels in result.items():
        for t, (written, other, lower) in levels.items():
            rows.append(f"| {attribute} | {t} | {written:.4f} | {other:.4f} | {100 * (other / written - 1):+.1f} % "
                        f"| {100 * lower:.0f} % |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.evaluation.word_sensitivity",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO_ROOT / "assets/shapes"), help="checkpoint folder")
    parser.add_argument("--clips", type=int, default=40,
                        help="true one-object moving clips, or two-object ones with --binding (default 40)")
    parser.add_argument("--first-frame", action="store_true", help="give the denoiser each clip's first frame")
    parser.add_argument("--binding", action="store_true",
                        help="two-object clips, attributes exchanged between the objects")
    args = parser.parse_args(argv)
    if args.clips < 1:
        parser.error("--clips must be at least 1")
    try:
        components, clip_format = load_components(args.model)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    print(table(word_sensitivity(components, clip_format, args.clips, args.first_frame, args.binding)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
