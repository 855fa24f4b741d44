"""The scheduler's forward noise path and regression target: what training regresses on and
what a pipeline scores a caption by (the denoiser as a classifier of its captions)."""

import torch
from diffusers import FlowMatchEulerDiscreteScheduler


def noisy_and_target(scheduler, clean: torch.Tensor, noise: torch.Tensor, indices: torch.Tensor):
    """(noisy input, model timestep, regression target) for clean latents of any shape (B, ...)."""
    expand = (-1,) + (1,) * (clean.ndim - 1)
    if isinstance(scheduler, FlowMatchEulerDiscreteScheduler):
        timesteps = scheduler.timesteps[indices]
        sigmas = scheduler.sigmas[indices].view(expand).to(clean.dtype)
        return (1 - sigmas) * clean + sigmas * noise, timesteps, noise - clean
    noisy = scheduler.add_noise(clean, noise, indices)
    if scheduler.config.prediction_type == "v_prediction":
        return noisy, indices, scheduler.get_velocity(clean, noise, indices)
    return noisy, indices, noise


def training_scheduler(scheduler):
    """A fresh copy: its timestep and sigma tables span all training timesteps, untouched by
    any `set_timesteps` a pipeline made."""
    return type(scheduler).from_config(scheduler.config)
