"""maskstats.torch_video against the real Hugging Face VideoMAEForPreTraining (tiny config,
random init, nothing downloaded): the per-token loss, difficulty-based and running-cell
decoder masking against an attention-blocked full-sequence reference, the clip collator and
the example script."""

from __future__ import annotations

import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from maskstats.masks import clip_random_masks, running_cell_masks, tube_masks  # noqa: E402
from maskstats.metrics import compute  # noqa: E402
from maskstats.torch import DifficultyWeighting, MaskCollator  # noqa: E402
from maskstats.torch_video import (  # noqa: E402
    VideoDecoderMasking,
    gather_masked,
    scatter_masked,
    videomae_patch_loss,
    videomae_targets,
)

ROOT = Path(__file__).resolve().parents[1]
IMG, PATCH, FRAMES, TUBELET = 16, 4, 4, 2
GRID = (FRAMES // TUBELET, IMG // PATCH, IMG // PATCH)  # (2, 4, 4): L = 32
L = math.prod(GRID)


def videomae(norm_pix_loss: bool = True, dtype=torch.float32, channels: int = 3):
    config = transformers.VideoMAEConfig(
        image_size=IMG,
        patch_size=PATCH,
        num_channels=channels,
        num_frames=FRAMES,
        tubelet_size=TUBELET,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        decoder_hidden_size=32,
        decoder_num_hidden_layers=2,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=64,
        norm_pix_loss=norm_pix_loss,
    )
    config._attn_implementation = "eager"  # the reference below blocks keys in eager attention
    torch.manual_seed(0)
    return transformers.VideoMAEForPreTraining(config).to(dtype)


def clips(n: int, dtype=torch.float32, channels: int = 3, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, FRAMES, channels, IMG, IMG, generator=generator, dtype=dtype)


# --- loss --------------------------------------------------------------------------------


@pytest.mark.parametrize("norm_pix_loss", [False, True])
@pytest.mark.parametrize("make", [tube_masks, clip_random_masks])
def test_unweighted_per_token_loss_equals_the_models_loss(norm_pix_loss, make):
    model = videomae(norm_pix_loss)
    pixels = clips(4)
    masks = make(4, GRID, 0.75, seed=1)
    weighting = DifficultyWeighting("p2dist", grid=GRID, patch_size=PATCH, weighting="none")
    targets = weighting(masks)
    with torch.no_grad():
        out = model(pixels, bool_masked_pos=targets.bool_masked_pos)
    loss = targets.loss(videomae_patch_loss(out.logits, pixels, targets.mask, model.config))
    torch.testing.assert_close(loss, out.loss, rtol=1e-6, atol=0)


def test_norm_pix_loss_without_imagenet_channels():
    model = videomae(True, channels=1)
    pixels = clips(2, channels=1)
    mask = torch.from_numpy(tube_masks(2, GRID, 0.5, seed=2).reshape(2, -1))
    with torch.no_grad():
        out = model(pixels, bool_masked_pos=mask)
    per_token = videomae_patch_loss(out.logits, pixels, mask, model.config)
    torch.testing.assert_close(per_token[mask].mean(), out.loss, rtol=1e-6, atol=0)
    assert (per_token[~mask] == 0).all()


def test_targets_layout_and_scatter_gather_round_trip():
    pixels = clips(2)
    targets = videomae_targets(pixels, patch_size=PATCH, tubelet_size=TUBELET, norm_pix_loss=False)
    assert targets.shape == (2, L, TUBELET * PATCH * PATCH * 3)
    # Token (t=1, h=2, w=3), value 0: frame 2, row 8, column 12, channel 0, mapped back to [0, 1].
    token = (1 * 4 + 2) * 4 + 3
    expected = pixels[0, 2, 0, 8, 12] * 0.229 + 0.485
    torch.testing.assert_close(targets[0, token, 0], expected)
    # Channels are innermost, then columns, rows and the frame within the tubelet.
    torch.testing.assert_close(targets[0, token, 3 * 1 + 2], pixels[0, 2, 2, 8, 13] * 0.225 + 0.406)
    mask = torch.from_numpy(clip_random_masks(2, GRID, 0.75, seed=0).reshape(2, -1))
    masked = gather_masked(targets, mask)
    assert masked.shape == (2, int(0.75 * L), targets.shape[-1])
    back = scatter_masked(masked, mask)
    torch.testing.assert_close(back[mask], targets[mask])
    assert (back[~mask] == 0).all()


# --- decoder masking ---------------------------------------------------------------------


class BlockedKeys:
    """Eager attention with chosen keys blocked, for the decoder layers only: the reference."""

    def __init__(self, model, blocked):
        self.blocked = blocked  # (N, S) bool over the decoder sequence
        self.modules = set()
        name = "maskstats_test_blocked"
        transformers.AttentionInterface.register(name, self)
        for layer in model.decoder.decoder_layers:
            attention = layer.attention.attention
            attention.config = type(attention.config).from_dict(attention.config.to_dict())
            attention.config._attn_implementation = name
            self.modules.add(id(attention))

    def __call__(self, module, query, key, value, attention_mask, **kwargs):
        from transformers.models.videomae.modeling_videomae import eager_attention_forward

        additive = torch.zeros(self.blocked.shape, dtype=query.dtype, device=query.device)
        additive = additive.masked_fill(self.blocked, torch.finfo(query.dtype).min)
        return eager_attention_forward(
            module, query, key, value, additive[:, None, None, :], **kwargs
        )


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def _run(model, pixels, targets, weighting):
    model.zero_grad()
    out = model(pixels, bool_masked_pos=targets.mask)
    loss = weighting.loss(
        videomae_patch_loss(out.logits, pixels, targets.mask, model.config), targets
    )
    loss.backward()
    return out.logits.detach(), loss.detach(), _grads(model)


def _compare(logits, loss, grads, ref_logits, ref_loss, ref_grads, kept):
    torch.testing.assert_close(logits[kept], ref_logits[kept], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-12, atol=0)
    assert grads.keys() == ref_grads.keys() and len(grads) > 10
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=1e-9, atol=1e-12)


def test_difficulty_decoder_masking_matches_the_blocked_full_sequence():
    model = videomae(True, torch.float64)
    pixels = clips(3, torch.float64)
    weighting = DifficultyWeighting(
        "p2dist", grid=GRID, patch_size=PATCH, decoder_mask_ratio=0.3, seed=0
    )
    targets = weighting(clip_random_masks(3, GRID, 0.75, seed=3))
    masked = int(targets.mask[0].sum())  # 24 of 32
    seen = []
    record = model.decoder.decoder_layers[0].register_forward_pre_hook(
        lambda m, a: seen.append(a[0].shape[1])
    )
    with VideoDecoderMasking(model, targets) as masking:
        logits, loss, grads = _run(model, pixels, targets, weighting)
        assert masking.last_length == L - masked + int(targets.keep[0].sum())
    kept_in_masked = gather_masked(targets.keep, targets.mask)  # (N, M) token order
    assert (logits[~kept_in_masked] == 0).all() and 0 < (~kept_in_masked).sum()
    # Reference: HF's full sequence (visible first, then every masked token), the dropped
    # masked tokens blocked as attention keys.
    blocked = torch.cat([torch.zeros(3, L - masked, dtype=torch.bool), ~kept_in_masked], dim=1)
    BlockedKeys(model, blocked)
    ref_logits, ref_loss, ref_grads = _run(model, pixels, targets, weighting)
    record.remove()
    assert seen == [L - masked + int(targets.keep[0].sum()), L]  # short, then full
    _compare(logits, loss, grads, ref_logits, ref_loss, ref_grads, kept_in_masked)
    # Not vacuous: letting the dropped tokens attend changes the kept predictions.
    BlockedKeys(model, torch.zeros_like(blocked))
    free_logits, _, _ = _run(model, pixels, targets, weighting)
    assert not torch.allclose(free_logits[kept_in_masked], logits[kept_in_masked], atol=1e-6)


def test_running_cell_decoder_masking_is_videomae_v2s_and_matches_the_blocked_reference():
    model = videomae(True, torch.float64)
    pixels = clips(3, torch.float64)
    weighting = DifficultyWeighting(
        "p2dist",
        grid=GRID,
        patch_size=PATCH,
        weighting="none",
        decoder_mask_ratio=0.5,
        decoder_masking="running_cell",
        seed=0,
    )
    targets = weighting(tube_masks(3, GRID, 0.75, seed=4))
    mask, cell = targets.mask, ~targets.decoder_tokens
    assert torch.equal(targets.keep, mask & ~cell)  # the loss: encoder-masked, decoder-kept
    # The cell is one of VideoMAE v2's patterns for every clip.
    patterns = torch.from_numpy(running_cell_masks(64, GRID, 0.5, seed=0).reshape(64, -1))
    assert all((patterns == row).all(1).any() for row in cell)
    visible, masked = L - int(mask[0].sum()), int(mask[0].sum())
    inputs, layer_inputs = [], []
    capture = model.decoder.register_forward_pre_hook(lambda m, a: inputs.append(a[0].detach()))
    first = model.decoder.decoder_layers[0].register_forward_pre_hook(
        lambda m, a: layer_inputs.append(a[0].detach())
    )
    with VideoDecoderMasking(model, targets):
        logits, loss, grads = _run(model, pixels, targets, weighting)
    capture.remove()
    first.remove()
    # VideoMAE v2's decoder input: the visible tokens, then mask_token + position at every
    # position the cell keeps (encoder-visible ones too), in token order; V + (1 - q) L tokens.
    table = model.position_embeddings.to(torch.float64)[0]
    expected = torch.stack(
        [
            torch.cat([inputs[0][k, :visible], model.mask_token[0] + table[~cell[k]]])
            for k in range(3)
        ]
    ).detach()
    assert layer_inputs[0].shape[1] == visible + L // 2
    torch.testing.assert_close(layer_inputs[0], expected, rtol=0, atol=0)
    # VideoMAE v2's loss: mean over the encoder-masked, decoder-kept tokens.
    full_targets = videomae_targets(pixels, model.config)
    v2 = ((scatter_masked(logits, mask) - full_targets) ** 2).mean(-1)
    torch.testing.assert_close(loss, v2[targets.keep].mean(), rtol=1e-12, atol=0)
    # Reference: the full sequence of VideoMAE v2's tokens (visible, then a mask token at every
    # position) with the cell's dropped ones blocked as attention keys.

    def full_sequence(module, args):
        hidden = args[0]
        rows = [torch.cat([hidden[k, :visible], model.mask_token[0] + table]) for k in range(3)]
        return (torch.stack(rows), L)

    def masked_outputs(module, args, output):
        output.logits = gather_masked(output.logits, mask)
        return output

    hooks = [
        model.decoder.register_forward_pre_hook(full_sequence),
        model.decoder.register_forward_hook(masked_outputs),
    ]
    BlockedKeys(model, torch.cat([torch.zeros(3, visible, dtype=torch.bool), cell], dim=1))
    ref_logits, ref_loss, ref_grads = _run(model, pixels, targets, weighting)
    for hook in hooks:
        hook.remove()
    kept = gather_masked(targets.keep, mask)
    assert masked == kept.shape[1] and (logits[~kept] == 0).all()
    _compare(logits, loss, grads, ref_logits, ref_loss, ref_grads, kept)


def test_decoder_masking_without_targets_or_with_nothing_dropped_is_a_no_op():
    model = videomae()
    pixels = clips(2)
    mask = torch.from_numpy(tube_masks(2, GRID, 0.75, seed=0).reshape(2, -1))
    with torch.no_grad():
        plain = model(pixels, bool_masked_pos=mask).logits
        with VideoDecoderMasking(model) as masking:
            hooked = model(pixels, bool_masked_pos=mask).logits
            masking.targets = DifficultyWeighting("p2dist", grid=GRID, patch_size=PATCH)(mask)
            same = model(pixels, bool_masked_pos=mask).logits
    torch.testing.assert_close(hooked, plain, rtol=0, atol=0)
    torch.testing.assert_close(same, plain, rtol=0, atol=0)
    with pytest.raises(TypeError, match="VideoMAEForPreTraining"):
        VideoDecoderMasking(torch.nn.Linear(2, 2))


def test_decoder_masking_refuses_targets_of_another_batch():
    model = videomae()
    weighting = DifficultyWeighting("p2dist", grid=GRID, patch_size=PATCH, decoder_mask_ratio=0.3)
    targets = weighting(tube_masks(3, GRID, 0.75, seed=0))
    other = torch.from_numpy(tube_masks(2, GRID, 0.75, seed=1).reshape(2, -1))
    with VideoDecoderMasking(model, targets), pytest.raises(ValueError, match="set .targets"):
        model(clips(2), bool_masked_pos=other)


# --- weighting, collator, example ----------------------------------------------------------


def test_flatten_weights_on_clips_use_the_clip_metric():
    masks = clip_random_masks(16, (4, 8, 8), 0.9, seed=0)
    weighting = DifficultyWeighting(
        "p2dist", grid=(4, 8, 8), patch_size=16, tubelet_size=2, decoder_mask_ratio=0.2, seed=0
    )
    targets = weighting(masks)
    p2 = compute(masks, "p2dist", 16, tubelet_size=2)["p2dist"].reshape(16, -1)
    flat = masks.reshape(16, -1)
    np.testing.assert_array_equal(targets.difficulty.numpy()[flat], p2[flat])
    w, keep = targets.weights.numpy(), targets.keep.numpy()
    assert w[keep].mean() == pytest.approx(1.0, rel=1e-5) and (w[~keep] == 0).all()
    np.testing.assert_array_equal(keep.sum(1), flat.sum(1) - np.floor(0.2 * flat.sum(1)))
    assert np.nanmax(p2[flat & ~keep]) >= np.nanmax(p2[keep])  # the hardest were dropped
    d = weighting.loss_difficulty(targets)
    assert d.patches == keep.sum() and d.effective_avgdist < d.avgdist


def test_weighting_refuses_running_cell_where_videomae_v2_would_fail_silently():
    with pytest.raises(ValueError, match="0.25, 0.5 or 0.75"):
        DifficultyWeighting(
            grid=GRID, patch_size=PATCH, decoder_mask_ratio=0.6, decoder_masking="running_cell"
        )
    with pytest.raises(ValueError, match="even"):
        DifficultyWeighting(
            grid=(2, 5, 4), patch_size=PATCH, decoder_mask_ratio=0.5, decoder_masking="running_cell"
        )
    with pytest.raises(ValueError, match="clip grid"):
        DifficultyWeighting(
            grid=4, patch_size=PATCH, decoder_mask_ratio=0.5, decoder_masking="running_cell"
        )


class Clips(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int):
        return torch.full((FRAMES, 3, IMG, IMG), float(index)), index


def test_clip_collator_makes_tubes_and_drives_videomae():
    weighting = DifficultyWeighting(
        "p2dist", grid=GRID, patch_size=PATCH, decoder_mask_ratio=0.3, seed=0
    )
    collate = MaskCollator(weighting, "tube", mask_ratio=0.75, seed=0)
    batch = collate([Clips()[i] for i in range(4)])
    mask = batch["bool_masked_pos"]
    assert batch["pixel_values"].shape == (4, FRAMES, 3, IMG, IMG) and mask.shape == (4, L)
    clip_masks = mask.reshape(4, *GRID)
    assert (clip_masks == clip_masks[:, :1]).all() and (mask.sum(1) == 2 * int(0.75 * 16)).all()
    model = videomae()
    with torch.no_grad(), VideoDecoderMasking(model, batch["targets"]) as masking:
        out = model(batch["pixel_values"], bool_masked_pos=mask)
    assert masking.last_length == L - 24 + int(batch["targets"].keep[0].sum())
    assert out.logits.shape == (4, 24, TUBELET * PATCH * PATCH * 3)
    again = pickle.loads(pickle.dumps(MaskCollator(weighting, "tube", mask_ratio=0.75, seed=0)))
    other = again([Clips()[i] for i in range(4)])
    torch.testing.assert_close(other["bool_masked_pos"], mask)


@pytest.mark.slow
def test_video_example_runs_and_prints_a_finite_loss():
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "hf_videomae.py")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    losses = [
        float(line.split("loss")[-1].split()[0])
        for line in result.stdout.splitlines()
        if "loss" in line
    ]
    assert len(losses) >= 2 and all(math.isfinite(v) for v in losses), result.stdout
