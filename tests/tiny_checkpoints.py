"""Tiny checkpoints of the three kinds ``maskstats visualize`` reads, made in seconds on a CPU
with random weights (nothing downloaded): the real Hugging Face ViTMAEForPreTraining and the
examples' facebook-MAE-style model."""

from pathlib import Path

EXAMPLE_ARCH = str(Path(__file__).parents[1] / "examples" / "tiny_models_mae.py")
"""--arch of the examples' model: FILE.py (+ ":MaskedAutoencoderViT")."""
FB_SIZES = dict(img_size=32, patch_size=4, embed_dim=48, depth=2, decoder_embed_dim=16)
"""Sizes other than the example constructor's defaults: the loader must read them from the
weights."""


def save_tiny_vitmae(folder: Path, norm_pix_loss: bool = True) -> Path:
    """A random-init ViTMAEForPreTraining on 32 px images with 4 px patches, saved with
    save_pretrained in ``folder``."""
    import torch
    import transformers

    config = transformers.ViTMAEConfig(
        image_size=32,
        patch_size=4,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        decoder_hidden_size=32,
        decoder_num_hidden_layers=1,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=64,
        mask_ratio=0.75,
        norm_pix_loss=norm_pix_loss,
    )
    torch.manual_seed(0)
    transformers.ViTMAEForPreTraining(config).save_pretrained(folder)
    return folder


def tiny_fb_model():
    """The examples' facebook-MAE-style model at ``FB_SIZES`` (random init, seed 1)."""
    import torch
    from tiny_models_mae import MaskedAutoencoderViT

    torch.manual_seed(1)
    return MaskedAutoencoderViT(**FB_SIZES)


def save_tiny_fb(path: Path) -> Path:
    """``{"model": state_dict}`` of :func:`tiny_fb_model`, as facebook MAE saves it."""
    import torch

    torch.save({"model": tiny_fb_model().state_dict()}, path)
    return path
