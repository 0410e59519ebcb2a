"""GANSpace-style principal directions of a generator's latent space (Harkonen et al., 2020).

z is isotropic, so PCA of z itself finds nothing. Instead: sample many z, take PCA of the
generator's early-layer activations, and regress the principal coordinates on z to map each
component back to a unit direction in z. Moving z by `v` along a unit direction moves it by `v`
standard deviations, because the projection of z ~ N(0, I) on any unit vector has std 1.
"""

from __future__ import annotations

import torch


@torch.inference_mode()
def principal_directions(
    generator: torch.nn.Module, z_dim: int, count: int = 10, samples: int = 8000, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Return {"directions": [count, z_dim] unit vectors, "explained_variance": [count] ratios}."""
    device = next(generator.parameters()).device
    z = torch.randn(samples, z_dim, generator=torch.Generator().manual_seed(seed))
    feats = torch.cat([generator.early_features(chunk.to(device)).flatten(1).cpu() for chunk in z.split(1000)])
    feats = feats - feats.mean(0)
    _, singular, components = torch.svd_lowrank(feats, q=count + 10, niter=4)
    total_variance = feats.pow(2).sum()
    coords = feats @ components[:, :count]  # [samples, count]
    directions = torch.linalg.lstsq(z, coords).solution.T  # [count, z_dim]
    directions = directions / directions.norm(dim=1, keepdim=True)
    return {
        "directions": directions.contiguous(),
        "explained_variance": singular[:count].pow(2) / total_variance,
    }
