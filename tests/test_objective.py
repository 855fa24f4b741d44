import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from models.presets import PRESETS
from models.noise_path import noisy_and_target
from training.objective import sample_timesteps


def noise_levels(scheduler, count=4000):
    """The noise level of each training sample: with clean latents 0 and noise 1 the noisy
    input is sigma itself."""
    indices = sample_timesteps(scheduler, count, torch.Generator().manual_seed(0))
    noisy, timesteps, target = noisy_and_target(scheduler, torch.zeros(count, 3), torch.ones(count, 3), indices)
    assert torch.allclose(target, torch.ones(count, 3))
    assert torch.allclose(timesteps / 1000, noisy[:, 0], atol=1e-4)  # the model is told the level it sees
    return noisy[:, 0]


def test_the_shipped_shift_trains_mostly_near_pure_noise():
    shift = PRESETS["shapes"]["scheduler"]["shift"]
    plain = noise_levels(FlowMatchEulerDiscreteScheduler(shift=1.0))
    shifted = noise_levels(FlowMatchEulerDiscreteScheduler(shift=shift))
    assert abs(plain.median() - 0.5) < 0.03
    assert abs(shifted.median() - shift * 0.5 / (1 + (shift - 1) * 0.5)) < 0.03
    assert (shifted > 0.8).float().mean() > 2 * (plain > 0.8).float().mean()
    assert 0 < shifted.min() and shifted.max() <= 1
