"""Text (and optionally a first-frame image) to a short clip with synchronised audio."""

import numpy as np
import torch

from models import sampling_defaults as defaults
from models.pipelines.studio_pipeline import (ClipOutput, ProgressCallback, StudioPipeline, encode_video,
                                              frames_to_tensor)


def first_frame_condition(image: torch.Tensor, has_image: torch.Tensor, latent_frames: int) -> torch.Tensor:
    """First-frame latents (N, C, 1, h, w) -> the transformer's conditioning video (N, C + 1, T', h, w):
    the latent in frame 0 and a mask channel marking it, all zeros where `has_image` (N,) is 0.
    Training builds its image-to-video inputs with it too."""
    cond = torch.zeros(image.shape[0], image.shape[1] + 1, latent_frames, *image.shape[3:])
    cond[:, :-1, :1] = image * has_image.view(-1, 1, 1, 1, 1)
    cond[:, -1, 0] = has_image.view(-1, 1, 1)
    return cond


def pinned_frames(cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(clean latents, frame mask (N, 1, T, 1, 1)) of a conditioning video that holds a first
    frame, for `denoise` to keep exactly; None for a blank one."""
    return (cond[:, :-1], cond[:, -1:, :, :1, :1]) if bool(cond[:, -1].any()) else None


class GeneratePipeline(StudioPipeline):
    """Base stage (video and audio latents together) then the upsampler, with classifier-free
    guidance against a negative prompt.

    Text-to-video is factorised as in Emu Video: a first pass of `first_frame_steps` samples a
    clip and keeps only its first latent frame; the clip is then sampled again as image-to-video
    from that frame. Given a first frame, the prompt's motion decides where the object goes, so
    the denoiser learned to follow it (image-to-video motion 50 % against 19 % from text alone);
    from noise, the direction word barely changes its prediction (README, Where the quality is
    lost). `first_frame_steps=0` samples in one pass."""

    def check_inputs(self, prompt, image, num_inference_steps, first_frame_steps, upsampler_steps, guidance_scale,
                     num_candidates, seed):
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("the prompt is empty: describe the clip, e.g. 'a red circle moving left'")
        if image is not None and (image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8
                                  or image.shape[0] != image.shape[1]):
            raise ValueError(f"the image must be square (H, H, 3) uint8, not {image.shape} {image.dtype}; "
                             "studio.media.read_image crops it")
        if not 1 <= int(upsampler_steps) <= 200:
            raise ValueError(f"upsampler steps must be between 1 and 200, not {upsampler_steps}")
        if not 0 <= int(first_frame_steps) <= 200:
            raise ValueError(f"first-frame steps must be between 0 and 200, not {first_frame_steps}")
        self.check_common(num_inference_steps, num_candidates, seed, {"guidance": guidance_scale})

    def image_condition(self, image: np.ndarray | None, num_candidates: int, size: int) -> torch.Tensor:
        """The conditioning latent at frame size `size`: blank for text-to-video; for
        image-to-video the image's latent (as a one-frame video) in latent frame 0 and a mask
        marking that frame."""
        c, t, h, w = self.latent_shapes(size)[0]
        if image is None:
            return torch.zeros(num_candidates, c + 1, t, h, w)
        first = encode_video(self.video_vae, frames_to_tensor(image[None, None], size))  # (1, C, 1, h, w)
        return first_frame_condition(first.expand(num_candidates, -1, -1, -1, -1), torch.ones(num_candidates), t)

    @torch.no_grad()
    def __call__(self, prompt: str, image: np.ndarray | None = None, negative_prompt: str = "",
                 num_inference_steps: int = defaults.STEPS, first_frame_steps: int = defaults.FIRST_FRAME_STEPS,
                 upsampler_steps: int = defaults.UPSAMPLER_STEPS, guidance_scale: float = defaults.GUIDANCE,
                 num_candidates: int = 1, seed: int | None = None,
                 progress: ProgressCallback | None = None) -> ClipOutput:
        # 1. Check inputs and choose seeds.
        self.check_inputs(prompt, image, num_inference_steps, first_frame_steps, upsampler_steps, guidance_scale,
                          num_candidates, seed)
        seeds = self.seeds_for(seed, num_candidates)
        n = num_candidates
        first_pass = int(first_frame_steps) if image is None else 0
        total_steps = first_pass + num_inference_steps + (upsampler_steps if self.upsampler is not None else 0)

        # 2. Encode the prompt and the negative prompt, batched [negative, positive] for guidance.
        text = self.encode_text([negative_prompt] * n + [prompt] * n)

        # 3. Prepare the conditioning and the starting noise.
        video_shape, audio_shape = self.latent_shapes(self.config.base_size)
        cond = self.image_condition(image, n, self.config.base_size)
        video, audio = self.noise(seeds, video_shape, salt=0), self.noise(seeds, audio_shape, salt=1)

        # 4. Denoise video and audio together (classifier-free guidance in one batch), keeping a given first frame.
        def sample(cond, video, audio, steps, progress_offset):
            both = cond.repeat(2, 1, 1, 1, 1)

            def velocity(video, audio, t):
                out = self.predict(self.transformer, video.repeat(2, 1, 1, 1, 1), t, text.tokens, text.mask,
                                   text.pooled, audio_latents=audio.repeat(2, 1, 1), video_cond=both)
                (v_uncond, v_cond), (a_uncond, a_cond) = out.video.chunk(2), out.audio.chunk(2)
                return (v_uncond + guidance_scale * (v_cond - v_uncond),
                        a_uncond + guidance_scale * (a_cond - a_uncond))

            return self.denoise(velocity, video, audio, steps, progress, progress_offset, total_steps,
                                pinned_frames(cond))

        if first_pass:  # text-to-video: a first frame, then the clip from it (fresh video noise, same audio noise)
            sketch, _ = sample(cond, video, audio, first_pass, 0)
            cond = first_frame_condition(sketch[:, :, :1], torch.ones(n), video_shape[1])
            video = self.noise(seeds, video_shape, salt=3)
        video, audio = sample(cond, video, audio, num_inference_steps, first_pass)

        # 5. Upsample the video latents (the cascade's second stage).
        if self.upsampler is not None:
            reference = self.image_condition(image, n, self.config.size)
            video = self.upsample(video, reference, text, seeds, guidance_scale, upsampler_steps, progress,
                                  first_pass + num_inference_steps, total_steps, known=pinned_frames(reference))

        # 6. Decode to frames and waveform.
        frames, waveform = self.decode(video, audio)
        return ClipOutput(frames=frames, audio=waveform, seeds=seeds, fps=self.config.fps,
                          sample_rate_hz=self.config.sample_rate_hz, task="generate")
