"""Text (and optionally a first-frame image) to a short clip with synchronised audio."""

import itertools

import numpy as np
import torch

from models import sampling_defaults as defaults
from models.pipelines import object_composition as composition
from models.pipelines.studio_pipeline import (ClipOutput, ProgressCallback, StudioPipeline, encode_video,
                                              frames_to_tensor)
from models.task_detection import named_motion, named_size
from models.text_encoder import TextEmbeddings

STREAM_SEED_STRIDE = 1_000_003  # stream j of a candidate with seed s starts from seed s + j * this
REDRAW_SEED_STRIDE = 7919  # a stream drawn once more (`first_look`) starts from its seed + this


class GeneratePipeline(StudioPipeline):
    """Base stage (video and audio latents together) then the upsampler, with classifier-free
    guidance against a negative prompt; object by object where the checkpoint asks for it
    (`object_composition`)."""

    def check_inputs(self, prompt, image, num_inference_steps, upsampler_steps, guidance_scale, audio_guidance_scale,
                     num_candidates, seed):
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("the prompt is empty: describe the clip, e.g. 'a red circle moving left'")
        if image is not None and (image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8
                                  or image.shape[0] != image.shape[1]):
            raise ValueError(f"the image must be square (H, H, 3) uint8, not {image.shape} {image.dtype}; "
                             "studio.media.read_image crops it")
        if not 1 <= int(upsampler_steps) <= 200:
            raise ValueError(f"upsampler steps must be between 1 and 200, not {upsampler_steps}")
        self.check_common(num_inference_steps, num_candidates, seed,
                          {"guidance": guidance_scale, "audio guidance": audio_guidance_scale})

    def image_condition(self, image: np.ndarray | None, num_candidates: int, size: int) -> torch.Tensor:
        """The conditioning latent at frame size `size`: blank for text-to-video; for
        image-to-video the image's latent (as a one-frame video) in latent frame 0 and a mask
        marking that frame."""
        c, t, h, w = self.latent_shapes(size)[0]
        cond = torch.zeros(num_candidates, c + 1, t, h, w)
        if image is not None:
            first = encode_video(self.video_vae, frames_to_tensor(image[None, None], size))  # (1, C, 1, h, w)
            cond[:, :c, :1] = first
            cond[:, c, 0] = 1.0
        return cond

    @staticmethod
    def pinned_frames(cond: torch.Tensor, image: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor] | None:
        """For image-to-video, (clean latents, frame mask (N, 1, T, 1, 1)) of a conditioning
        latent from `image_condition`: the sampler keeps the given first frame exactly."""
        return None if image is None else (cond[:, :-1], cond[:, -1:, :, :1, :1])

    def object_streams(self, prompt: str, image: np.ndarray | None) -> tuple[list[str], list] | None:
        """(prompt, first frame or None) of each object's stream, or None to sample the prompt
        whole: it is not a list of single objects, or its image does not show one object per
        phrase (a one-object prompt with an image is sampled whole too: nothing to compose)."""
        phrases = composition.object_clauses(prompt)
        if image is None:
            return (phrases, [None] * len(phrases)) if phrases else None
        images = composition.split_image(image, len(phrases)) if len(phrases) > 1 else None
        return (self.match_objects(images, phrases), images) if images else None

    @torch.no_grad()
    def match_objects(self, images: list[np.ndarray], phrases: list[str]) -> list[str]:
        """The phrase of each one-object image: the assignment under which the denoiser's error
        on the images as still clips is lowest (`caption_errors`)."""
        size, frames = self.config.base_size, self.config.num_frames
        stills = torch.cat([encode_video(self.video_vae, frames_to_tensor(np.repeat(im[None, None], frames, 1), size))
                            for im in images])
        pairs = list(itertools.product(range(len(images)), range(len(phrases))))  # (image, phrase)
        error = self.caption_errors(stills[[i for i, _ in pairs]],
                                    self.encode_text([phrases[p] for _, p in pairs]))
        best = min(itertools.permutations(range(len(phrases))),
                   key=lambda order: sum(error[pairs.index((i, p))] for i, p in enumerate(order)))
        return [phrases[p] for p in best]

    def base_stage(self, text: TextEmbeddings, cond: torch.Tensor, video: torch.Tensor, audio: torch.Tensor,
                   pinned: tuple[torch.Tensor, torch.Tensor] | None, guidance_scale: float,
                   audio_guidance_scale: float, num_inference_steps: int, progress: ProgressCallback | None = None,
                   total_steps: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Video and audio latents of N streams denoised together from noise `video`, `audio`,
        with classifier-free guidance in one batch: `text` holds N negative then N positive
        rows, `cond` (N, C + 1, T, h, w) the conditioning latents, `pinned` the frames kept."""
        cond = cond.repeat(2, 1, 1, 1, 1)

        def velocity_for(transformer):
            context = transformer.text_context(text.tokens, text.mask)

            def velocity(video, audio, t):
                out = self.predict(transformer, video.repeat(2, 1, 1, 1, 1), t, text.tokens, text.mask, text.pooled,
                                   audio_latents=audio.repeat(2, 1, 1), video_cond=cond, context=context)
                (v_uncond, v_cond), (a_uncond, a_cond) = out.video.chunk(2), out.audio.chunk(2)
                return (v_uncond + guidance_scale * (v_cond - v_uncond),
                        a_uncond + audio_guidance_scale * (a_cond - a_uncond))
            return velocity

        return self.denoise(self.transformer, velocity_for, video, audio, num_inference_steps, progress, 0,
                            total_steps, pinned)

    def first_look(self, drawn: np.ndarray, phrases: list[str]
                   ) -> tuple[list[int], list[tuple[bool, bool]], np.ndarray]:
        """The streams' drawings, frames (N, T, h, w, 3) uint8 decoded at the base size, one phrase
        each: (the rows that show no object at all, each row's faults (its main object does not move as
        the phrase's motion word says, is larger than its size word: `object_composition.moves_as`,
        `sized_as`), each row's background colour (N, 3)). The generator mixes up directions and
        stillness, runs a blob or two copies together, and draws nothing for an object on a
        background it never saw it on (the held-out white on beige); the cascade keeps what the base
        stage drew (README: Motion drawn again, Objects drawn without their place, Small objects
        drawn large)."""
        empty = [r for r, clip in enumerate(drawn) if composition.drawn_object(clip) is None]
        motions, sizes = [named_motion(phrase) for phrase in phrases], [named_size(phrase) for phrase in phrases]
        faults = [(False, False) if r in empty else
                  (motion is not None and not composition.moves_as(clip, motion),
                   size is not None and not composition.sized_as(clip, size))
                  for r, (clip, motion, size) in enumerate(zip(drawn, motions, sizes))]
        return empty, faults, np.stack([composition.background_colour(clip) for clip in drawn])

    def sound_for(self, first: np.ndarray, text: TextEmbeddings, video_noise: torch.Tensor,
                  audio_noise: torch.Tensor, guidance_scale: float, audio_guidance_scale: float,
                  num_inference_steps: int) -> torch.Tensor:
        """Audio latents (N, C, L) for drawings whose first frames are `first` (N, h, w, 3) uint8 at
        the base size: the base stage run again from the same noise with the first frame given as
        image-to-video gives an image, its sound kept and its video dropped. Denoised together, a
        tone's height is settled in the first steps while the picture is still noise, and often
        lands a semitone or more from where the object is then drawn; given the first frame, the
        generator hears the object where it stands from the first step (README: Sound drawn to the
        picture)."""
        cond = torch.cat([self.image_condition(frame, 1, self.config.base_size) for frame in first])
        _, audio = self.base_stage(text, cond, video_noise, audio_noise, self.pinned_frames(cond, first),
                                   guidance_scale, audio_guidance_scale, num_inference_steps)
        return audio

    def tone_errors(self, drawn: np.ndarray, audio: torch.Tensor) -> list[np.ndarray]:
        """Each stream's tone's distance from its object's height (`object_composition.tone_errors`)
        frame by frame, its sound from audio latents (N, C, L), its drawing frames (N, T, h, w, 3)."""
        return [composition.tone_errors(waveform, frames, self.config.sample_rate_hz)
                for waveform, frames in zip(self.decode_audio(audio), drawn)]

    @torch.no_grad()
    def __call__(self, prompt: str, image: np.ndarray | None = None, negative_prompt: str = "",
                 num_inference_steps: int = defaults.STEPS,
                 upsampler_steps: int = defaults.UPSAMPLER_STEPS, guidance_scale: float = defaults.GUIDANCE,
                 audio_guidance_scale: float = defaults.AUDIO_GUIDANCE, num_candidates: int = 1,
                 seed: int | None = None, progress: ProgressCallback | None = None,
                 compose_objects: bool | None = None, picture_only: bool = False) -> ClipOutput:
        """`compose_objects`: sample the prompt object by object (None: as the checkpoint says).
        `picture_only`: a drawing whose sound will not be used (an edit's drawing of a shape or a
        colour); its sound is not drawn again (step 6)."""
        # 1. Check inputs and choose seeds.
        self.check_inputs(prompt, image, num_inference_steps, upsampler_steps, guidance_scale, audio_guidance_scale,
                          num_candidates, seed)
        seeds = self.seeds_for(seed, num_candidates)
        n = num_candidates
        total_steps = num_inference_steps + (upsampler_steps if self.upsampler is not None else 0)

        # 2. One stream per object when composing, else one for the whole prompt (object-major:
        # stream j of candidate i is row j * n + i; stream 0 has the candidate's own seed, so a
        # one-object prompt starts from the same noise either way).
        if compose_objects is None:
            compose_objects = self.config.compose_objects
        streams = self.object_streams(prompt, image) if compose_objects else None
        prompts, images = streams or ([prompt], [image])
        extents = [None] * len(prompts)
        if streams and image is None:
            prompts, extents = map(list, zip(*map(composition.drawn_size, prompts)))
        k = len(prompts)
        stream_seeds = [(s + j * STREAM_SEED_STRIDE) % (defaults.MAX_SEED + 1) for j in range(k) for s in seeds]
        m = len(stream_seeds)

        # 3. Encode the prompts and the negative prompt, batched [negative, positive] for guidance.
        phrases = [p for p in prompts for _ in range(n)]  # one per row
        text = self.encode_text([negative_prompt] * m + phrases)

        # 4. Prepare the conditioning and the starting noise.
        video_shape, audio_shape = self.latent_shapes(self.config.base_size)
        cond = torch.cat([self.image_condition(im, n, self.config.base_size) for im in images])  # (m, C + 1, T, h, w)
        video_noise = self.noise(stream_seeds, video_shape, salt=0)
        audio_noise = self.noise(stream_seeds, audio_shape, salt=1)

        # 5. Denoise video and audio together. Object by object, a stream that shows no object is
        # drawn once more without its place, on a background of the generator's choosing (the clip
        # keeps the first drawing's), and one whose object does not keep its phrase's motion or size
        # once more as it was, each from another seed; the second drawing stands unless it shows
        # nothing or its faults are worse (motion first, then size).
        pinned = self.pinned_frames(cond, image)
        video, audio = self.base_stage(text, cond, video_noise, audio_noise, pinned, guidance_scale,
                                       audio_guidance_scale, num_inference_steps, progress, total_steps)
        sound_again = image is None and not picture_only  # step 6
        drawn = self.decode_video(video) if streams or sound_again else None  # (m, T, h, w, 3) uint8, base size
        empty, faults, backgrounds = self.first_look(drawn, phrases) if streams else ([], [(False, False)] * m, None)
        redraw = [r for r in range(m) if r in empty or any(faults[r])]
        if redraw:
            again = [(stream_seeds[r] + REDRAW_SEED_STRIDE) % (defaults.MAX_SEED + 1) for r in redraw]
            asked = [composition.without_place(phrases[r]) if r in empty else phrases[r] for r in redraw]
            noise = self.noise(again, video_shape, salt=0), self.noise(again, audio_shape, salt=1)
            video_again, audio_again = self.base_stage(
                self.encode_text([negative_prompt] * len(redraw) + asked), cond[redraw], *noise,
                None if pinned is None else (pinned[0][redraw], pinned[1][redraw]),
                guidance_scale, audio_guidance_scale, num_inference_steps)
            drawn_again = self.decode_video(video_again)
            empty_again, faults_again, _ = self.first_look(drawn_again, asked)
            kept = [j for j, r in enumerate(redraw)
                    if r in empty or (j not in empty_again and faults_again[j] <= faults[r])]
            rows = [redraw[j] for j in kept]
            video[rows], audio[rows], drawn[rows] = video_again[kept], audio_again[kept], drawn_again[kept]
            video_noise[rows], audio_noise[rows] = noise[0][kept], noise[1][kept]

        # 6. From text alone, sample the sound again with the drawing's first frame given, in a
        # third of the steps (an image's request has its sound drawn that way already); object by
        # object, a stream whose tone is not heard at its object's height draws it again from other
        # noise, up to `SOUND_DRAWS` drawings, and the one nearest that height stands.
        if sound_again:
            sound_steps = max(1, num_inference_steps // 3)
            audio = self.sound_for(drawn[:, 0], text, video_noise, audio_noise, guidance_scale, audio_guidance_scale,
                                   sound_steps)
            errors = self.tone_errors(drawn, audio) if streams else [np.zeros(0)] * m
            for draw in range(1, composition.SOUND_DRAWS):
                again = [r for r in range(m) if composition.heard_share(errors[r]) < composition.HEARD_SHARE]
                if not again:
                    break
                again_text = self.encode_text([negative_prompt] * len(again) + [phrases[r] for r in again])
                salt = 1 + 2 * draw  # 3, 5, 7: clear of the first video, sound and upsampler noise
                other_noise = self.noise([stream_seeds[r] for r in again], audio_shape, salt=salt)
                other = self.sound_for(drawn[again, 0], again_text, video_noise[again], other_noise, guidance_scale,
                                       audio_guidance_scale, sound_steps)
                for j, other_errors in enumerate(self.tone_errors(drawn[again], other)):
                    if composition.tone_error(other_errors) < composition.tone_error(errors[again[j]]):
                        audio[again[j]], errors[again[j]] = other[j], other_errors

        # 7. Upsample the video latents (the cascade's second stage), each stream under its own prompt.
        if self.upsampler is not None:
            reference = torch.cat([self.image_condition(im, n, self.config.size) for im in images])
            video = self.upsample(video, reference, text, stream_seeds, guidance_scale, upsampler_steps, progress,
                                  num_inference_steps, total_steps, known=self.pinned_frames(reference, image))

        # 8. Decode frames and waveforms; object by object, lay each candidate's objects over one
        # background (clear of each other unless an image placed them) and mix their sound, each
        # tone at the pitch of where its object lies and all at one loudness.
        frames, waveform = self.decode(video, audio)
        if streams:
            laid = [composition.composed(frames[i::n], clear=image is None,  # row i: candidate i's first stream
                                         background=backgrounds[i] if i in empty else None, extents=extents)
                    for i in range(n)]
            frames = np.stack([clip for clip, _ in laid])
            rows_down = [laid[i][1][j] for j in range(k) for i in range(n)]  # object-major, as the streams
            waveform = composition.mix(composition.levelled(self.moved_sound(waveform, rows_down), k), k)
        return ClipOutput(frames=frames, audio=waveform, seeds=seeds, fps=self.config.fps,
                          sample_rate_hz=self.config.sample_rate_hz, task="generate")
