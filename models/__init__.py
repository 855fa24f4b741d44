"""Flipbook's networks: modules and their `forward` only (no noise schedules, losses or files)."""

from models.audio_vae import AudioVAE
from models.video_vae import VideoVAE

__all__ = ["AudioVAE", "VideoVAE"]
