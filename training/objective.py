"""The denoising objective, taken from the scheduler the pipelines sample with.

Flow matching (rectified flow) for FlowMatchEulerDiscreteScheduler: x_t = (1 - sigma) x_0 +
sigma * noise, velocity target noise - x_0, at a logit-normal point of the scheduler's sigma
table, which its `shift` bends towards pure noise (SD3's recipe). DDPM-style
schedulers use their own `add_noise` and prediction type. Either way the noise path comes from
the diffusers scheduler, never from a formula of ours (`models/noise_path.py`, which the
pipelines' scoring shares).
"""

import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.training_utils import compute_density_for_timestep_sampling


def sample_timesteps(scheduler, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """Indices into the scheduler's training timesteps (logit-normal for flow matching)."""
    n = scheduler.config.num_train_timesteps
    if isinstance(scheduler, FlowMatchEulerDiscreteScheduler):
        u = compute_density_for_timestep_sampling("logit_normal", batch_size, logit_mean=0.0, logit_std=1.0,
                                                  generator=generator)
        return (u * n).long().clamp(0, n - 1)
    return torch.randint(0, n, (batch_size,), generator=generator)
