import numpy as np
import pytest
import torch

from maskstats.mae.model import create_model, sincos_pos_embed
from maskstats.masks import random_masks


def micro(**overrides):
    torch.manual_seed(0)
    return create_model("mae_vit_micro", **overrides)


def mae_formula(pred_full, target, mask):
    """MAE's forward_loss: mean over pixels, then mean over masked patches."""
    loss = ((pred_full - target) ** 2).mean(dim=-1)
    return (loss * mask).sum() / mask.sum()


@pytest.mark.parametrize("norm_pix_loss", [False, True])
def test_unit_weights_give_mae_loss(norm_pix_loss):
    model = micro(norm_pix_loss=norm_pix_loss)
    imgs = torch.randn(4, 3, 32, 32)
    mask = torch.from_numpy(random_masks(4, 8, 0.75, seed=0).reshape(4, -1))
    out = model(imgs, mask, weights=torch.ones(4, 64))
    pred_full = torch.zeros(4, 64, 48)
    pred_full.scatter_(1, out["ids_target"][..., None].expand(-1, -1, 48), out["pred"])
    target = model.patchify(imgs)
    if norm_pix_loss:
        target = (target - target.mean(-1, keepdim=True)) / (
            target.var(-1, keepdim=True) + 1e-6
        ) ** 0.5
    expected = mae_formula(pred_full, target, mask.float())
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    unweighted = model(imgs, mask)["loss"]
    assert unweighted.item() == pytest.approx(expected.item(), rel=1e-5)


def test_weighted_loss_is_weighted_mean_of_patch_losses():
    model = micro()
    imgs = torch.randn(2, 3, 32, 32)
    mask = torch.from_numpy(random_masks(2, 8, 0.5, seed=1).reshape(2, -1))
    weights = torch.rand(2, 64)
    out = model(imgs, mask, weights=weights)
    w = torch.gather(weights, 1, out["ids_target"])
    expected = (out["patch_loss"] * w).sum() / w.sum()
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_decoder_masking_shortens_the_decoder_sequence():
    model = micro()
    lengths = []
    model.decoder_blocks.register_forward_hook(lambda m, args, out: lengths.append(args[0].shape))
    imgs = torch.randn(3, 3, 32, 32)
    mask_np = random_masks(3, 8, 0.9, seed=0).reshape(3, -1)
    keep_np = mask_np.copy()
    for row in keep_np:  # drop 11 of the 58 masked patches in every sample
        row[np.flatnonzero(row)[:11]] = False
    mask, keep = torch.from_numpy(mask_np), torch.from_numpy(keep_np)
    out = model(imgs, mask, decoder_keep=keep)
    n_visible = 64 - 58
    assert lengths[-1] == (3, 1 + n_visible + 58 - 11, 128)
    assert out["patch_loss"].shape == (3, 47)
    kept_ids = torch.sort(out["ids_target"], dim=1).values
    assert torch.equal(kept_ids, torch.stack([torch.nonzero(k).ravel() for k in keep]))


def test_named_configs_and_pos_embed():
    base = create_model("mae_vit_base_patch16")
    # MAE's ViT-B with decoder has 111,907,840 parameters, of which 252,160 are its fixed
    # sin-cos position embeddings (buffers here).
    assert sum(p.numel() for p in base.parameters()) == 111_907_840 - 252_160
    embed = sincos_pos_embed(16, (2, 3))
    assert embed.shape == (7, 16) and torch.all(embed[0] == 0)
    other = create_model("mae_vit_micro", img_size=48, patch_size=8, in_chans=1)
    assert other.num_patches == 36 and other.decoder_pred.out_features == 64


def test_bad_model_settings():
    with pytest.raises(ValueError, match="not divisible"):
        create_model("mae_vit_micro", img_size=30)
    with pytest.raises(ValueError, match="unknown model"):
        create_model("mae_vit_giant")
