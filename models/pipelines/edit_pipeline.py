"""Instruction-guided video editing (Movie Gen Edit): the source clip is the conditioning
video, the task embedding says which edit, and guidance follows InstructPix2Pix."""

import functools

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import uniform_filter

from models import sampling_defaults as defaults
from models.pipelines import object_composition as composition
from models.pipelines.generate_pipeline import GeneratePipeline
from models.pipelines.studio_pipeline import (ClipOutput, ProgressCallback, StudioPipeline, encode_audio, encode_video,
                                              frames_to_tensor)
from models.task_detection import (DRAWN_SIZE, added_object, detect_task, object_reference, recolour_phrase,
                                   reshape_phrase)
from models.text_encoder import TextEmbeddings

LOCAL_TASKS = frozenset({"recolor", "reshape", "remove", "add", "segment"})  # change one object, not the frame
OBJECT_TASKS = LOCAL_TASKS - {"add"}  # name one object of the source: edited object by object
# Trained on scenes of two objects alone, remove leaves a lone object in place: it is shown the
# whole source, and where it removed exactly one object that one is named (`removed`).
WHOLE_SOURCE_TASKS = frozenset({"remove"})
# Edits that change colours alone (`object_composition.recoloured`; outlines stay the source's): of
# what, and how far (RGB) a colour must move to count as changed. Style changes every colour.
COLOUR_TASKS = {"recolor": (frozenset({"objects"}), composition.COLOUR_RADIUS),
                "segment": (frozenset({"objects"}), composition.COLOUR_RADIUS),
                "background": (frozenset({"background"}), composition.COLOUR_RADIUS),
                "style": (frozenset({"objects", "background"}), 0.0)}
# Object by object, drawn by the generator (`drawn`): what it draws for an instruction.
DRAWN_TASKS = {"add": added_object, "reshape": reshape_phrase, "recolor": recolour_phrase}
# Of objects that differ in shape, the named one is the one most like a drawing of its shape by
# this much (`outline_similarity`; chosen on development splits, README: Picking by outline).
SHAPE_MARGIN = 0.15
TIMING_TASKS = frozenset({"reverse"})  # change when each frame is shown, not what it shows (`retimed`)


def keep_unedited(frames: np.ndarray, source: np.ndarray, keep_below: float = 16, edit_above: float = 48,
                  window: int = 3) -> np.ndarray:
    """Edited frames (N, T, H, W, 3) uint8 with the source's pixels (T, H, W, 3) back where the
    edit left them nearly alone: each pixel's largest channel difference from the source,
    averaged over a `window` x `window` patch, below `keep_below` (8-bit levels) takes the
    source's value, above `edit_above` keeps the edit's, with a linear blend between. The
    whole clip is regenerated, so without this even the pixels a local edit did not touch come
    back a little changed; with it they are the source's own (thresholds chosen on a
    development split, README: Edits)."""
    edited, original = frames.astype(np.float32), source.astype(np.float32)[None]
    difference = uniform_filter(np.abs(edited - original).max(-1), size=(1, 1, window, window))
    alpha = np.clip((difference - keep_below) / (edit_above - keep_below), 0, 1)[..., None]
    return np.round(original + alpha * (edited - original)).astype(np.uint8)


def retimed(frames: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Edited frames (N, T, H, W, 3) uint8 with each frame replaced by the source frame (of
    (T, H, W, 3)) nearest it in mean squared difference: the edit says which moment of the
    source each frame shows, the source's own frames show it, where the decoder would blur a
    small object's outline."""
    edited, original = frames.astype(np.float32).reshape(*frames.shape[:2], -1), source.astype(np.float32)
    distance = ((edited[:, :, None] - original.reshape(1, 1, len(source), -1)) ** 2).mean(-1)  # (N, T, T)
    return source[distance.argmin(-1)]


class EditPipeline(StudioPipeline):
    """Dual classifier-free guidance: `video_guidance` pulls towards the source clip,
    `text_guidance` towards the instruction (InstructPix2Pix, eq. 3). An edit of one object
    then gets the source's pixels back where it left them nearly alone (`keep_unedited`).

    Object by object (where the checkpoint asks for it, as generation does): an edit that
    names one object of a source showing several edits that object alone, the others
    painted out, and lays the others back from the source. Asked to recolour one of two
    objects, the edit transformer paints either or both (the binding failure of README,
    Edits); alone, the object is unambiguous. An edit of colours alone (`COLOUR_TASKS`) then
    keeps the source's outlines, which the decoder blurs, and a reverse edit the source's
    frames (`retimed`). An add, reshape or recolor edit is drawn by the generator (`drawn`)."""

    def check_inputs(self, frames, audio, instruction, task, num_inference_steps, upsampler_steps, text_guidance,
                     video_guidance, num_candidates, seed) -> str:
        """Returns the task: the one given, else the one detected from the instruction."""
        t = self.config.num_frames
        if frames.ndim != 4 or frames.shape[0] != t or frames.shape[-1] != 3 or frames.shape[1] != frames.shape[2]:
            raise ValueError(f"the source must be {t} square RGB frames (T, H, H, 3), not {frames.shape}; "
                             "studio.media.read_video brings any video to that format")
        if audio.shape != (self.config.num_samples,):
            raise ValueError(f"the source audio must have {self.config.num_samples} samples, not {audio.shape}")
        if not isinstance(instruction, str) or not instruction.strip():
            raise ValueError("the instruction is empty: say what to change, e.g. 'make the circle blue'")
        if not 1 <= int(upsampler_steps) <= 200:
            raise ValueError(f"upsampler steps must be between 1 and 200, not {upsampler_steps}")
        self.check_common(num_inference_steps, num_candidates, seed,
                          {"text guidance": text_guidance, "video guidance": video_guidance})
        names = self.transformer.config.task_names
        task = task or detect_task(instruction)
        if task is None:
            raise ValueError(f"could not tell which edit '{instruction}' asks for; choose a task "
                             f"({', '.join(names[1:])})")
        if task not in names:
            raise ValueError(f"unknown task '{task}'; expected one of {', '.join(names)}")
        return task

    @torch.no_grad()
    def named_object(self, objects: list[tuple[np.ndarray, np.ndarray]], instruction: str,
                     drawing: np.ndarray | None = None) -> int | None:
        """Which of `objects` (the source's, from `split_objects`) the instruction names, or None
        unless they are two to `MAX_OBJECTS`. Given a `drawing` (frames (T, H, W, 3)) of an object
        of the shape it names, the one whose outline is most like the drawing's, where that is
        clear by `SHAPE_MARGIN`; else the one whose denoising error, over its own latent cells,
        the phrase naming it (`object_reference`, else the whole instruction) lowers most against
        no text (`caption_errors`), which tells colours apart far better than shapes."""
        k = len(objects)
        if not 2 <= k <= composition.MAX_OBJECTS:
            return None
        shape = None if drawing is None else composition.shape_of(drawing)
        if shape is not None:
            likeness = sorted((composition.outline_similarity(composition.shape_of(alone, mask), shape), i)
                              for i, (alone, mask) in enumerate(objects))
            if likeness[-1][0] - likeness[-2][0] > SHAPE_MARGIN:
                return likeness[-1][1]
        reference = object_reference(instruction)
        clean = torch.cat([encode_video(self.video_vae, frames_to_tensor(alone[None], self.config.base_size))
                           for alone, _ in objects])  # (k, C, T', h, w)
        cells = torch.stack([F.adaptive_max_pool3d(torch.from_numpy(mask[None]).float(), clean.shape[2:])[0]
                             for _, mask in objects])  # (k, T', h, w): the latent cells each object touches
        text = self.encode_text([reference[0] if reference else instruction] * k + [""] * k)
        error = self.caption_errors(clean.repeat(2, 1, 1, 1, 1), text, cells.repeat(2, 1, 1, 1))
        return int(torch.argmin(error[:k] - error[k:]))

    @functools.cached_property
    def generation(self) -> GeneratePipeline:
        """The generate pipeline that draws an added object, a new shape or a new colour (`drawn`)."""
        return self.sibling(GeneratePipeline)

    @torch.no_grad()
    def drawn(self, task: str, instruction: str, sized: np.ndarray, audio: np.ndarray,
              objects: list[tuple[np.ndarray, np.ndarray]], seed: int | None, num_candidates: int,
              num_inference_steps: int, upsampler_steps: int, keep_audio: bool,
              progress: ProgressCallback | None) -> ClipOutput | None:
        """An add, reshape or recolor edit by generation, or None where the instruction does not
        say what to draw (`DRAWN_TASKS`), the source (`sized`, uint8 (T, H, W, 3) at the clip
        size) has no object to change (its `objects`), or a candidate's drawing shows no object.
        The generation transformer draws the object the instruction names alone, as one stream
        of an object-by-object prompt (at generation's guidance). Add: it is laid over the source
        (`object_composition.laid_over`), its tone, at the pitch of where it lies, mixed into the
        source's sound. Reshape and
        recolor: the named object takes its shape (`reshaped`) or colour (`painted`); the sound
        stays the source's. The edit transformer mostly drew an added object as a circle, or
        standing still, kept a reshaped object's old shape, and recoloured the other object or
        none (README: Add and reshape by generation, Recolour by generation)."""
        phrase = DRAWN_TASKS[task](instruction)
        if phrase is None or (task != "add" and not 1 <= len(objects) <= composition.MAX_OBJECTS):
            return None

        made = self.generation(phrase, num_inference_steps=num_inference_steps, upsampler_steps=upsampler_steps,
                               num_candidates=num_candidates, seed=seed, progress=progress, compose_objects=True,
                               picture_only=task != "add")
        mask = None
        if task != "add":
            # Of several objects, the named one: recolor's drawing shows its shape; reshape's shows the new
            # one, so the named object's shape is drawn too, at half the steps (its outline is all it gives).
            reference = object_reference(instruction)
            drawing = (None if len(objects) == 1 or reference is None else made.frames[0] if task == "recolor"
                       else self.generation(f"a {DRAWN_SIZE} {reference[1]}", seed=seed, compose_objects=True,
                                            num_inference_steps=max(1, num_inference_steps // 2),
                                            upsampler_steps=max(1, upsampler_steps // 2), picture_only=True).frames[0])
            mask = objects[0 if len(objects) == 1 else self.named_object(objects, instruction, drawing)][1]
        compose = {"add": lambda clip: composition.laid_over(sized, clip),
                   "reshape": lambda clip: composition.reshaped(sized, mask, clip),
                   "recolor": lambda clip: composition.painted(sized, mask, clip)}[task]
        frames = [compose(clip) for clip in made.frames]
        if any(f is None for f in frames):
            return None
        tone = made.audio
        if task == "add":  # (frames, rows the object moved down): its tone moves with it
            frames, tone = [f for f, _ in frames], self.moved_sound(made.audio, [down for _, down in frames])
        source_audio = np.repeat(audio[None].astype(np.float32), num_candidates, axis=0)
        waveform = (composition.mix(np.concatenate([source_audio, tone]), 2)
                    if task == "add" and not keep_audio else source_audio)
        return ClipOutput(frames=np.stack(frames), audio=waveform, seeds=made.seeds,
                          fps=self.config.fps, sample_rate_hz=self.config.sample_rate_hz, task=task)

    @torch.no_grad()
    def __call__(self, frames: np.ndarray, audio: np.ndarray, instruction: str, task: str | None = None,
                 num_inference_steps: int = defaults.EDIT_STEPS,
                 upsampler_steps: int = defaults.UPSAMPLER_STEPS, text_guidance: float = defaults.EDIT_GUIDANCE,
                 video_guidance: float = defaults.VIDEO_GUIDANCE, num_candidates: int = 1, seed: int | None = None,
                 keep_audio: bool = False, keep_unedited_pixels: bool = True,
                 progress: ProgressCallback | None = None, compose_objects: bool | None = None) -> ClipOutput:
        """`compose_objects`: edit the object an instruction names alone, or for remove in
        the whole source, and lay the others back; draw an added object, a new shape or a new
        colour with the generator (`drawn`) (None: as the checkpoint says).
        `keep_unedited_pixels`: an edit of one object gets the source's pixels back where it
        left them nearly alone; object by object, a recolor, segment, background or style edit
        is the source with the colours the edit changed, on the source's outlines
        (`object_composition.recoloured`); a reverse edit shows the source's frames in the
        edit's order (`retimed`)."""
        # 1. Check inputs, settle the task, choose seeds; object by object, draw an added object,
        #    a new shape or a new colour, or keep the named object alone in the source (remove: all of it).
        task = self.check_inputs(frames, audio, instruction, task, num_inference_steps, upsampler_steps,
                                 text_guidance, video_guidance, num_candidates, seed)
        seeds = self.seeds_for(seed, num_candidates)
        n = num_candidates
        total_steps = num_inference_steps + (upsampler_steps if self.upsampler is not None else 0)
        if compose_objects is None:
            compose_objects = self.config.compose_objects
        sized = None  # the source at the clip size, uint8 (T, H, W, 3): what an edit of one object keeps
        if task in LOCAL_TASKS or task in COLOUR_TASKS or task in TIMING_TASKS:
            sized = frames_to_tensor(frames[None], self.clip_size)[0].permute(1, 2, 3, 0)
            sized = ((sized + 1) * 127.5).round().clamp(0, 255).byte().numpy()
        objects = (composition.split_objects(sized)
                   if compose_objects and (task in OBJECT_TASKS or task in COLOUR_TASKS) else [])
        if compose_objects and task in DRAWN_TASKS:
            drawn = self.drawn(task, instruction, sized, audio, objects, seed, n, num_inference_steps,
                               upsampler_steps, keep_audio, progress)
            if drawn is not None:
                return drawn
        named = self.named_object(objects, instruction) if compose_objects and task in OBJECT_TASKS else None
        shown = sized  # the source the edit is shown, at the clip size
        if named is not None and task not in WHOLE_SOURCE_TASKS:
            frames = shown = objects[named][0]

        # 2. Encode the instruction; the batch is [no source, no text] [source, no text] [source, text].
        text = self.encode_text([""] * (2 * n) + [instruction] * n)
        task_ids = torch.full((3 * n,), self.transformer.config.task_names.index(task))

        # 3. Encode the source clip as the conditioning video (with an all-ones mask) and audio.
        source = encode_video(self.video_vae, frames_to_tensor(frames[None], self.config.base_size))  # (1, C, T', h, w)
        video_cond = torch.cat([source, torch.ones_like(source[:, :1])], 1).repeat(3 * n, 1, 1, 1, 1)
        video_cond[:n] = 0
        audio_cond = encode_audio(self.audio_vae, audio[None]).repeat(3 * n, 1, 1)
        audio_cond[:n] = 0
        video_shape, audio_shape = self.latent_shapes(self.config.base_size)
        video, audio_latents = self.noise(seeds, video_shape, salt=0), self.noise(seeds, audio_shape, salt=1)

        # 4. Denoise with dual guidance.
        def guide(x):
            blank, source_only, full = x.chunk(3)
            return blank + video_guidance * (source_only - blank) + text_guidance * (full - source_only)

        def velocity_for(transformer):
            context = transformer.text_context(text.tokens, text.mask, task_ids)

            def velocity(video, audio_latents, t):
                out = self.predict(transformer, video.repeat(3, 1, 1, 1, 1), t, text.tokens, text.mask, text.pooled,
                                   audio_latents=audio_latents.repeat(3, 1, 1), video_cond=video_cond,
                                   audio_cond=audio_cond, task_ids=task_ids, context=context)
                return guide(out.video), guide(out.audio)
            return velocity

        video, audio_latents = self.denoise(self.transformer, velocity_for, video, audio_latents, num_inference_steps,
                                            progress, 0, total_steps)

        # 5. Upsample, with the full-size source as the reference.
        if self.upsampler is not None:
            reference = encode_video(self.video_vae, frames_to_tensor(frames[None], self.config.size))
            reference = torch.cat([reference, torch.ones_like(reference[:, :1])], 1).repeat(n, 1, 1, 1, 1)
            upsampler_text = TextEmbeddings(text.tokens[n:], text.mask[n:], text.pooled[n:])
            video = self.upsample(video, reference, upsampler_text, seeds, text_guidance, upsampler_steps, progress,
                                  num_inference_steps, total_steps, task_ids=task_ids[n:])

        # 6. Decode; keep the source's audio when asked, and, for an edit of one object, the
        #    source's pixels where the edit left them nearly alone, and the other objects; an
        #    edit of colours alone of a source showing a few objects is the source recoloured,
        #    a reverse edit the source retimed.
        out_frames, waveform = self.decode(video, audio_latents)
        masks = [mask for _, mask in objects]
        recolour = keep_unedited_pixels and task in COLOUR_TASKS and 1 <= len(objects) <= composition.MAX_OBJECTS
        if keep_unedited_pixels and task in TIMING_TASKS:
            out_frames = retimed(out_frames, sized)
        if keep_unedited_pixels and task in LOCAL_TASKS and not recolour:
            out_frames = keep_unedited(out_frames, shown)
        if named is not None and task in WHOLE_SOURCE_TASKS:
            out_frames = np.stack([composition.removed(sized, edited, masks, named) for edited in out_frames])
        elif named is not None:
            others = np.any([mask for i, mask in enumerate(masks) if i != named], axis=0)
            out_frames = np.where(others[None, ..., None], sized[None], out_frames)
        if recolour:
            out_frames = np.stack([composition.recoloured(sized, edited, masks, *COLOUR_TASKS[task])
                                   for edited in out_frames])
        if keep_audio:
            waveform = np.repeat(audio[None].astype(np.float32), n, axis=0)
        return ClipOutput(frames=out_frames, audio=waveform, seeds=seeds, fps=self.config.fps,
                          sample_rate_hz=self.config.sample_rate_hz, task=task)
