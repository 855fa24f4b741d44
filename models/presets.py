"""Named model sizes in one table, and building a fresh (untrained) set of components.

`tiny` is for tests (seconds on a CPU); `shapes` is what the shipped Shapes World models use.
A trained checkpoint never relies on this table: its configs are saved with its weights.
"""

from diffusers import FlowMatchEulerDiscreteScheduler

from models.audio_vae import AudioVAE
from models.joint_transformer import JointDenoisingTransformer
from models.text_encoder import TextEncoder, default_text_encoder_path
from models.video_vae import VideoVAE

CLIP_FORMAT = dict(num_frames=16, fps=8.0, sample_rate_hz=16_000, num_samples=32_000)

PRESETS = {
    "tiny": {
        "clip_format": dict(base_size=16, size=32, **CLIP_FORMAT),
        "video_vae": dict(latent_channels=4, patch_size=2, block_out_channels=(16, 16), layers_per_block=1,
                          norm_num_groups=4),
        "audio_vae": dict(latent_channels=4, n_fft=512, hidden_channels=32, layers=1),
        "transformer": dict(hidden_size=32, depth=2, num_heads=2, audio_patch_size=4),
        "upsampler": dict(hidden_size=32, depth=1, num_heads=2),
        "scheduler": dict(shift=6.0),
    },
    "shapes": {
        "clip_format": dict(base_size=32, size=64, **CLIP_FORMAT),
        "video_vae": dict(latent_channels=8, patch_size=2, block_out_channels=(32, 64), layers_per_block=1,
                          norm_num_groups=8),
        "audio_vae": dict(latent_channels=16, hidden_channels=512, layers=2),
        "transformer": dict(hidden_size=192, depth=6, num_heads=3, audio_patch_size=4),
        "upsampler": dict(hidden_size=128, depth=4, num_heads=2),
        # Noise levels shifted towards pure noise, in training and sampling alike: there the
        # count, colours and motion of the scene are decided (README, "Noise levels").
        "scheduler": dict(shift=6.0),
    },
}


def build_transformers(preset: str, video_vae: VideoVAE, audio_vae: AudioVAE,
                       text_encoder: TextEncoder) -> tuple[JointDenoisingTransformer, JointDenoisingTransformer]:
    """Fresh (base transformer, upsampler) of a preset, wired to the VAEs' latent channels and
    the text encoder's widths."""
    p = PRESETS[preset]
    c, ca = video_vae.config.latent_channels, audio_vae.config.latent_channels
    text = dict(text_dim=text_encoder.hidden_size, pooled_text_dim=text_encoder.pooled_size)
    transformer = JointDenoisingTransformer(video_channels=c, video_cond_channels=c + 1, audio_channels=ca,
                                            audio_cond_channels=ca, **text, **p["transformer"])
    # The upsampler's conditioning: upsampled base latent + full-size reference latent + its mask.
    upsampler = JointDenoisingTransformer(video_channels=c, video_cond_channels=2 * c + 1, audio_channels=0,
                                          **text, **p["upsampler"])
    return transformer, upsampler


def build_components(preset: str, text_encoder: str | None = None) -> tuple[dict, dict]:
    """A fresh set of components of a preset, and its clip format."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
    p = PRESETS[preset]
    encoder = TextEncoder.from_pretrained(text_encoder or str(default_text_encoder_path()))
    video_vae, audio_vae = VideoVAE(**p["video_vae"]), AudioVAE(**p["audio_vae"])
    transformer, upsampler = build_transformers(preset, video_vae, audio_vae, encoder)
    components = {"text_encoder": encoder, "video_vae": video_vae, "audio_vae": audio_vae,
                  "transformer": transformer, "upsampler": upsampler,
                  "scheduler": FlowMatchEulerDiscreteScheduler(**p["scheduler"])}
    return components, dict(p["clip_format"])
