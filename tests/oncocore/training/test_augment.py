"""Training augmentation: shapes, value ranges, determinism, and crops that stay inside the tile."""

from __future__ import annotations

import pytest
import torch

from oncocore.training.augment import make_augment


@pytest.mark.parametrize("strength", ["standard", "strong", "geometric"])
@pytest.mark.parametrize("modality", ["histology", "mr", "ct", "none"])
def test_augment_shapes_ranges_determinism(modality, strength):
    x = torch.rand(4, 3 if modality == "histology" else 1, 16, 16)
    aug = make_augment(modality, strength)
    a = aug(x, torch.Generator().manual_seed(0))
    b = aug(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b) and a.min() >= 0 and a.max() <= 1


def test_zoom_rotate_crops_inside_the_tile_without_black_corners():
    from oncocore.training.augment import random_zoom_rotate

    x = torch.rand(64, 3, 32, 32) * 0.5 + 0.5  # no dark pixel anywhere
    out = random_zoom_rotate(x, torch.Generator().manual_seed(0), degrees=45.0, zoom=(1.2, 1.6))
    assert out.min() >= 0.5 - 1e-5  # rotated corners are mirrored tissue, never zero fill
    assert (out - x).abs().mean() > 0.05  # and every tile really moved
    same = random_zoom_rotate(x, torch.Generator().manual_seed(0), degrees=0.0, zoom=(1.0, 1.0))
    assert torch.allclose(same, x, atol=1e-5)  # zoom 1 without rotation leaves the tile alone
    with pytest.raises(ValueError, match="strength"):
        make_augment("histology", "extreme")


def test_geometric_moves_pixels_and_leaves_their_values_alone():
    # A constant tile stays constant under flips, turns and a small affine move (reflected borders),
    # while the standard histology augmentation's stain jitter changes its colour.
    x = torch.full((8, 3, 16, 16), 0.6)
    g = torch.Generator().manual_seed(0)
    geometric = make_augment("histology", "geometric")(x, g)
    standard = make_augment("histology", "standard")(x, torch.Generator().manual_seed(0))
    assert torch.allclose(geometric, x, atol=1e-5)
    assert (standard - x).abs().max() > 0.01
    ramp = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(8, 1, 16, 16).clone()
    moved = make_augment("mr", "geometric")(ramp, torch.Generator().manual_seed(1))
    assert (moved - ramp).abs().mean() > 0.005  # the pixels moved
    with pytest.raises(ValueError, match="modality"):
        make_augment("ultrasound", "geometric")
