"""The VAEs' KL term (their reconstruction losses are in training/vae.py and the decoder stages,
the denoising loss in training/objective.py)."""

import torch


def kl_loss(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()
