"""maskstats.torch against the real things: Hugging Face ViTMAEForPreTraining (tiny config,
random init, nothing downloaded) and a model shaped like facebookresearch/mae's
models_mae.py (examples/tiny_models_mae.py, also what the fb-MAE example runs)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tiny_models_mae import MaskedAutoencoderViT  # noqa: E402  (examples/)

# Where a subprocess finds this module and the examples' model.
HELPER_PATHS = os.pathsep.join(
    [str(Path(__file__).parent), str(Path(__file__).parents[1] / "examples")]
)

from maskstats import weights  # noqa: E402
from maskstats.masks import generate, random_masks  # noqa: E402
from maskstats.torch import (  # noqa: E402
    DecoderMasking,
    DifficultyTargets,
    DifficultyWeighting,
    MaskCollator,
    mae_patch_loss,
    noise_for_mask,
    patchify,
)

ROOT = Path(__file__).resolve().parents[1]
IMG, PATCH, RATIO = 32, 4, 0.75
GRID = IMG // PATCH
L = GRID * GRID

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
    ),
]


def hf_model(norm_pix_loss: bool = False, dtype=torch.float32, device="cpu"):
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTMAEConfig(
        image_size=IMG,
        patch_size=PATCH,
        num_channels=3,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        decoder_hidden_size=32,
        decoder_num_hidden_layers=2,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=64,
        mask_ratio=RATIO,
        norm_pix_loss=norm_pix_loss,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(0)
    return transformers.ViTMAEForPreTraining(config).to(device=device, dtype=dtype)


def fb_model(norm_pix_loss: bool = False, dtype=torch.float32, device="cpu"):
    torch.manual_seed(0)
    model = MaskedAutoencoderViT(IMG, PATCH, norm_pix_loss=norm_pix_loss)
    return model.to(device=device, dtype=dtype)


def images(n: int, dtype=torch.float32, device="cpu", seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, IMG, IMG, generator=generator, dtype=dtype).to(device)


class Runner:
    """One interface over both models: forward(imgs, noise) -> (loss, pred (N, L, P), mask);
    decoder blocks; how a block takes an additive attention mask."""

    def __init__(self, kind: str, model):
        self.kind = kind
        self.model = model

    def forward(self, imgs, noise):
        if self.kind == "hf":
            out = self.model(pixel_values=imgs, noise=noise)
            return out.loss, out.logits, out.mask
        return self.model(imgs, RATIO, noise)

    @property
    def blocks(self):
        if self.kind == "hf":
            return self.model.decoder.decoder_layers
        return self.model.decoder_blocks

    @property
    def mask_kwarg(self) -> str:
        return "attention_mask" if self.kind == "hf" else "attn_mask"

    @property
    def norm_pix_loss(self) -> bool:
        if self.kind == "hf":
            return self.model.config.norm_pix_loss
        return self.model.norm_pix_loss


def runner(kind: str, norm_pix_loss=False, dtype=torch.float32, device="cpu") -> Runner:
    make = hf_model if kind == "hf" else fb_model
    return Runner(kind, make(norm_pix_loss, dtype, device))


def block_dropped_keys(blocks, targets: DifficultyTargets, kwarg: str):
    """Reference: the full sequence, dropped tokens masked out as attention keys."""
    mask = targets.mask
    dropped = mask & ~targets.keep
    blocked = torch.cat([torch.zeros_like(dropped[:, :1]), dropped], dim=1)  # cls at 0

    def hook(module, args, kwargs):
        hidden = args[0]
        additive = torch.zeros(blocked.shape, dtype=hidden.dtype, device=hidden.device)
        additive = additive.masked_fill(blocked.to(hidden.device), torch.finfo(hidden.dtype).min)
        kwargs = {**kwargs, kwarg: additive[:, None, None, :]}
        return args, kwargs

    return [block.register_forward_pre_hook(hook, with_kwargs=True) for block in blocks]


# --- noise_for_mask ----------------------------------------------------------------------


def test_noise_values_split_visible_and_masked_and_are_distinct():
    masks = random_masks(5, GRID, RATIO, seed=0)
    noise = noise_for_mask(masks)
    flat = torch.from_numpy(masks.reshape(5, -1))
    assert noise.dtype == torch.float32 and noise.shape == (5, L)
    assert (noise[~flat] >= 0).all() and (noise[~flat] < 0.5).all()
    assert (noise[flat] >= 0.5).all() and (noise[flat] < 1).all()
    assert all(len(torch.unique(row)) == L for row in noise)
    # The numpy generator with this noise (a stable argsort) gives the mask back.
    np.testing.assert_array_equal(random_masks(5, GRID, RATIO, noise=noise.numpy()), masks)


def test_noise_rejects_rows_with_other_visible_counts():
    masks = random_masks(3, GRID, RATIO, seed=0).reshape(3, -1)
    masks[1, np.flatnonzero(~masks[1])[0]] = True
    with pytest.raises(ValueError, match="visible"):
        noise_for_mask(masks)
    with pytest.raises(ValueError, match="len_keep|int"):
        noise_for_mask(random_masks(2, GRID, 0.5, seed=0), mask_ratio=RATIO)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["hf", "fb"])
@pytest.mark.parametrize("strategy", ["random", "block", "difficulty"])
def test_noise_reproduces_the_mask_in_the_model(kind, strategy, device):
    extra = {"target_p2dist": 1.2} if strategy == "difficulty" else {}
    masks = generate(strategy, 6, IMG, PATCH, RATIO, seed=1, **extra)
    noise = noise_for_mask(torch.from_numpy(masks).to(device), mask_ratio=RATIO)
    assert noise.device.type == device
    run = runner(kind, device=device)
    with torch.no_grad():
        _, _, mask = run.forward(images(6, device=device), noise)
    np.testing.assert_array_equal(mask.bool().cpu().numpy(), masks.reshape(6, -1))


def mae_random_masking(noise: torch.Tensor, mask_ratio: float) -> np.ndarray:
    """The mask of MAE's random_masking (models_mae.py; Hugging Face's is the same): argsort
    the noise, keep the first len_keep; (N, L) bool, True = masked."""
    n, length = noise.shape
    len_keep = int(length * (1 - mask_ratio))
    ids_restore = torch.argsort(torch.argsort(noise, dim=1), dim=1)
    mask = torch.ones([n, length])
    mask[:, :len_keep] = 0
    return torch.gather(mask, dim=1, index=ids_restore).bool().numpy()


def test_tied_noise_is_not_portable_but_noise_for_mask_is():
    """random_masks(noise=...) breaks ties by patch index; torch.argsort does not keep the
    order of equal values, so constant noise at L = 196 gives MAE another mask. (Should a
    future torch sort stably, the first assertion fails and the README's caveat can go.)
    noise_for_mask's noise has no tie: MAE's code gets back exactly the mask."""
    noise = np.full((4, 196), 0.5, np.float32)
    ours = random_masks(4, 14, 0.75, noise=noise).reshape(4, -1)
    assert not ours[:, :49].any() and ours[:, 49:].all()  # the first 49 patches visible
    theirs = mae_random_masking(torch.from_numpy(noise), 0.75)
    assert (theirs.sum(1) == 147).all()
    assert not np.array_equal(theirs, ours)
    np.testing.assert_array_equal(mae_random_masking(noise_for_mask(ours), 0.75), ours)
    for strategy in ("random", "block", "grid"):
        masks = generate(strategy, 8, 224, 16, 0.75, seed=5).reshape(8, -1)
        np.testing.assert_array_equal(mae_random_masking(noise_for_mask(masks), 0.75), masks)


# --- loss --------------------------------------------------------------------------------


def test_patchify_matches_both_models():
    x = images(2)
    np.testing.assert_array_equal(patchify(x, PATCH), hf_model().patchify(x))
    np.testing.assert_array_equal(patchify(x, PATCH), fb_model().patchify(x))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["hf", "fb"])
@pytest.mark.parametrize("norm_pix_loss", [False, True])
@pytest.mark.parametrize("setting", [("none", 1.0), ("flatten", 0.0)])
def test_unweighted_recomputed_loss_equals_the_models_loss(kind, norm_pix_loss, setting, device):
    weighting_name, alpha = setting
    run = runner(kind, norm_pix_loss, device=device)
    imgs = images(4, device=device)
    with torch.no_grad():
        loss, pred, mask = run.forward(imgs, None)  # the model's own random mask
    weighting = DifficultyWeighting(
        "p2dist", grid=GRID, patch_size=PATCH, weighting=weighting_name, alpha=alpha
    )
    targets = weighting(mask)
    assert targets.weights.device.type == device
    mine = weighting.loss(mae_patch_loss(pred, patchify(imgs, PATCH), norm_pix_loss), targets)
    torch.testing.assert_close(mine, loss, rtol=1e-6, atol=0)


def test_targets_fields_and_layouts():
    masks = generate("block", 8, IMG, PATCH, 0.75, seed=3)
    weighting = DifficultyWeighting(
        "density3", grid=GRID, patch_size=PATCH, decoder_mask_ratio=0.25, seed=0
    )
    t = weighting(masks)
    flat = masks.reshape(8, -1)
    np.testing.assert_array_equal(t.mask.numpy(), flat)
    assert t.difficulty.dtype == torch.float32 and t.weights.dtype == torch.float32
    expected = weights.patch_difficulty(masks, "density3", PATCH).reshape(8, -1)
    np.testing.assert_array_equal(t.difficulty.numpy(), expected)  # -count: oriented, NaN vis.
    keep = t.keep.numpy()
    assert not (keep & ~flat).any()
    n_masked = flat.sum(axis=1)
    np.testing.assert_array_equal(keep.sum(axis=1), n_masked - np.floor(0.25 * n_masked))
    w = t.weights.numpy()
    assert (w[~keep] == 0).all() and (w[keep] > 0).all()
    assert w[keep].mean() == pytest.approx(1.0, rel=1e-5)
    assert len(np.unique(w[keep])) > 1  # density3 really binned (trap 2)
    np.testing.assert_array_equal(t.ids_keep.numpy(), np.nonzero(keep | ~flat)[1].reshape(8, -1))
    assert t.decoder_length == 1 + (L - n_masked[0]) + keep.sum(axis=1)[0]
    # Same targets from (N, L) torch 0/1 input and from a fresh weighting with the same seed.
    again = DifficultyWeighting(
        "density3", grid=GRID, patch_size=PATCH, decoder_mask_ratio=0.25, seed=0
    )(torch.from_numpy(flat.astype(np.int64)))
    for name in ("mask", "keep", "weights", "ids_keep", "noise"):
        torch.testing.assert_close(getattr(again, name), getattr(t, name))
    moved = t.to("cpu", non_blocking=True)
    assert moved.weights is not None and moved.ids_keep.dtype == torch.int64


@pytest.mark.parametrize("metric", weights.DIFFICULTY_METRICS)
def test_default_weighting_is_faithful_flatten_and_reports_its_difficulty(metric):
    # 256 masks at 224/16, ratio 0.9, the defaults: flatten with alpha 0.5, min_share 0.01.
    weighting = DifficultyWeighting(metric, grid=14, patch_size=16, seed=0)
    assert (weighting.weighting, weighting.alpha, weighting.min_share) == ("flatten", 0.5, 0.01)
    masks = random_masks(256, 14, 0.9, seed=3)
    targets = weighting(masks)
    w = targets.weights[targets.keep].double()
    assert w.sum() ** 2 / (w**2).sum() / w.numel() >= 0.10 and w.max() <= 100 * w.mean()
    d = weighting.loss_difficulty(targets)
    p2 = weights.compute(masks, "p2dist", 16)["p2dist"]
    expected = weights.loss_difficulty(masks, targets.weights.numpy().reshape(masks.shape), 16)
    assert d == expected == targets.loss_difficulty(16, grid=14)
    assert d.avgdist == pytest.approx(16 * p2[masks].mean(), rel=1e-6)
    assert d.effective_avgdist < d.avgdist and d.patches == masks.sum()
    dropped = DifficultyWeighting(metric, grid=14, patch_size=16, decoder_mask_ratio=0.3, seed=0)
    with_q = dropped.loss_difficulty(dropped(masks))
    assert with_q.patches < d.patches and with_q.avgdist < d.avgdist  # the hardest dropped


def test_weighting_refuses_bad_parameters_at_construction():
    for bad in (dict(alpha=float("nan")), dict(alpha=-1.0), dict(gamma=float("nan"))):
        with pytest.raises(ValueError, match="must be a number in"):
            DifficultyWeighting("p2dist", grid=GRID, patch_size=PATCH, **bad)
    with pytest.raises(ValueError, match="min_share"):
        DifficultyWeighting("p2dist", grid=GRID, patch_size=PATCH, min_share=2.0)


def test_targets_pickle_as_one_buffer_and_come_back_equal():
    import pickle
    from multiprocessing.reduction import ForkingPickler

    import torch.multiprocessing  # noqa: F401  (torch's shared-memory reductions)

    masks = generate("block", 8, IMG, PATCH, 0.75, seed=3)
    t = DifficultyWeighting("p2dist", grid=GRID, patch_size=PATCH, decoder_mask_ratio=0.25)(masks)
    for back in (pickle.loads(pickle.dumps(t)), pickle.loads(ForkingPickler.dumps(t))):
        for name in ("mask", "keep", "difficulty", "weights", "ids_keep", "noise"):
            a, b = getattr(t, name), getattr(back, name)
            assert a.dtype == b.dtype and a.shape == b.shape
            torch.testing.assert_close(a, b, equal_nan=True, rtol=0, atol=0)
        storages = {getattr(back, name).untyped_storage().data_ptr() for name in ("mask", "noise")}
        assert len(storages) == 1  # views of one buffer


# --- decoder masking ---------------------------------------------------------------------


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["hf", "fb"])
def test_decoder_masking_matches_the_blocked_full_sequence(kind, device):
    dtype = torch.float64
    run = runner(kind, norm_pix_loss=True, dtype=dtype, device=device)
    masks = generate("block", 6, IMG, PATCH, RATIO, seed=2)
    weighting = DifficultyWeighting(
        "p2dist", grid=GRID, patch_size=PATCH, decoder_mask_ratio=0.3, seed=0
    )
    targets = weighting(torch.from_numpy(masks).to(device))
    imgs = images(6, dtype=dtype, device=device)
    target_patches = patchify(imgs, PATCH)
    seen = []

    def forward_loss():
        _, pred, mask = run.forward(imgs, targets.noise)
        assert torch.equal(mask.bool(), targets.mask)
        return pred, weighting.loss(mae_patch_loss(pred, target_patches, True), targets)

    masking = DecoderMasking(run.model, targets)
    record = [
        b.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[1])) for b in run.blocks
    ]
    run.model.zero_grad()
    pred, loss = forward_loss()
    loss.backward()
    grads = _grads(run.model)
    masking.remove()
    n_visible = L - int(masks[0].sum())
    n_kept = int(targets.keep[0].sum())
    assert n_kept < masks[0].sum()
    assert seen == [1 + n_visible + n_kept] * len(run.blocks)  # every block ran short
    assert targets.decoder_length == 1 + n_visible + n_kept
    dropped = targets.mask & ~targets.keep
    assert (pred[dropped] == 0).all()

    seen.clear()
    handles = block_dropped_keys(run.blocks, targets, run.mask_kwarg)
    run.model.zero_grad()
    ref_pred, ref_loss = forward_loss()
    ref_loss.backward()
    ref_grads = _grads(run.model)
    for handle in handles + record:
        handle.remove()
    assert seen == [1 + L] * len(run.blocks)
    kept = ~dropped
    torch.testing.assert_close(pred[kept], ref_pred[kept], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-12, atol=0)
    assert grads.keys() == ref_grads.keys() and len(grads) > 10
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=1e-9, atol=1e-12)
    # Not vacuous: letting the dropped tokens attend changes the kept predictions.
    run.model.zero_grad()
    free_pred, _ = forward_loss()
    assert not torch.allclose(free_pred[targets.keep], pred[targets.keep], atol=1e-6)


@pytest.mark.parametrize("kind", ["hf", "fb"])
def test_flatten_weighted_training_steps(kind):
    run = runner(kind, norm_pix_loss=True)
    weighting = DifficultyWeighting(
        "p2dist", grid=GRID, patch_size=PATCH, decoder_mask_ratio=0.3, seed=0
    )
    masking = DecoderMasking(run.model)
    optimizer = torch.optim.AdamW(run.model.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in run.model.parameters()]
    losses = []
    for step in range(3):
        imgs = images(8, seed=step)
        masks = generate("random", 8, IMG, PATCH, RATIO, seed=step)
        masking.targets = targets = weighting(masks)
        _, pred, _ = run.forward(imgs, targets.noise)
        loss = weighting.loss(mae_patch_loss(pred, patchify(imgs, PATCH), True), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    masking.remove()
    assert all(math.isfinite(v) and v > 0 for v in losses)
    changed = [not torch.equal(a, b) for a, b in zip(before, run.model.parameters(), strict=True)]
    assert sum(changed) > 10


def test_decoder_masking_without_targets_is_a_no_op():
    run = runner("hf")
    imgs = images(2)
    noise = noise_for_mask(random_masks(2, GRID, RATIO, seed=0))
    with torch.no_grad():
        plain = run.forward(imgs, noise)[1]
        with DecoderMasking(run.model):
            hooked = run.forward(imgs, noise)[1]
    torch.testing.assert_close(hooked, plain, rtol=0, atol=0)
    with pytest.raises(TypeError, match="decoder_blocks"):
        DecoderMasking(torch.nn.Linear(2, 2))


# --- DDP ---------------------------------------------------------------------------------


def test_sync_bins_in_a_single_process_gloo_group(tmp_path):
    import torch.distributed as dist

    masks = generate("block", 16, IMG, PATCH, RATIO, seed=5)
    local = DifficultyWeighting("p2dist", grid=GRID, patch_size=PATCH, seed=0)(masks)
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        synced = DifficultyWeighting("p2dist", grid=GRID, patch_size=PATCH, seed=0, sync_bins=True)(
            masks
        )
    finally:
        dist.destroy_process_group()
    torch.testing.assert_close(synced.weights, local.weights, rtol=1e-6, atol=0)


def _sync_rank(rank: int, store: str, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=store, rank=rank, world_size=2)
    masks = generate("block", 16, IMG, PATCH, RATIO, seed=5)[8 * rank : 8 * rank + 8]
    weighting = DifficultyWeighting(
        "p2dist", grid=GRID, patch_size=PATCH, sync_bins=True, decoder_mask_ratio=0.2, seed=rank
    )
    targets = weighting(masks)
    # As a DataLoader worker would make them (no sync), synced in the training process.
    unsynced = DifficultyWeighting(
        "p2dist", grid=GRID, patch_size=PATCH, decoder_mask_ratio=0.2, seed=rank
    )(masks)
    resynced = weighting.sync_weights(unsynced)
    dist.destroy_process_group()
    torch.save(
        {"weights": targets.weights, "keep": targets.keep, "resynced": resynced.weights},
        f"{out}.{rank}",
    )


@pytest.mark.slow
def test_sync_bins_gives_the_global_batch_weights_over_two_ranks(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    store, out = f"file://{tmp_path / 'store'}", str(tmp_path / "rank")
    ranks = [context.Process(target=_sync_rank, args=(r, store, out)) for r in range(2)]
    for process in ranks:
        process.start()
    for process in ranks:
        process.join(120)
    assert [p.exitcode for p in ranks] == [0, 0]
    parts = [torch.load(f"{out}.{r}") for r in range(2)]
    weights_all = torch.cat([p["weights"] for p in parts])
    keep = torch.cat([p["keep"] for p in parts])
    # The global batch's Difficulty-Flatten over the kept patches of both ranks.
    masks = generate("block", 16, IMG, PATCH, RATIO, seed=5).reshape(16, -1)
    difficulty = weights.patch_difficulty(masks, "p2dist", PATCH, grid=GRID)
    expected = weights.flatten_weights(difficulty[keep.numpy()], "p2dist", oriented=True)
    torch.testing.assert_close(weights_all[keep], torch.from_numpy(expected), rtol=1e-5, atol=0)
    for part in parts:
        assert torch.equal(part["resynced"], part["weights"])
    per_rank = [p["weights"][p["keep"]].mean().item() for p in parts]
    assert per_rank[0] != pytest.approx(1.0, abs=1e-4)  # each rank alone is not mean 1


def test_import_maskstats_and_weights_stays_torch_free():
    code = "import sys, maskstats, maskstats.weights; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


# --- collator ----------------------------------------------------------------------------


class Images(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 16

    def __getitem__(self, index: int):
        return torch.full((3, IMG, IMG), float(index)), index


def _check_batches(batches, weighting_args):
    seen_masks = []
    for batch in batches:
        imgs, targets, noise = batch["pixel_values"], batch["targets"], batch["noise"]
        assert imgs.shape == (4, 3, IMG, IMG) and batch["labels"].shape == (4,)
        np.testing.assert_array_equal(imgs[:, 0, 0, 0].numpy(), batch["labels"].numpy())
        # The noise reproduces the batch's masks; weights are those of these masks.
        mask = targets.mask.numpy()
        np.testing.assert_array_equal(
            random_masks(4, GRID, RATIO, noise=noise.numpy()).reshape(4, -1), mask
        )
        again = DifficultyWeighting(**weighting_args)(mask)
        torch.testing.assert_close(again.weights, targets.weights)
        seen_masks.append(mask)
    assert len({m.tobytes() for m in seen_masks}) == len(seen_masks)  # workers differ


COLLATOR_ARGS = {"metric": "p2dist", "grid": GRID, "patch_size": PATCH, "weighting": "flatten"}


def collator_batches(context: str) -> list:
    collate = MaskCollator(DifficultyWeighting(**COLLATOR_ARGS), "block", mask_ratio=RATIO, seed=0)
    loader = torch.utils.data.DataLoader(
        Images(), batch_size=4, num_workers=2, collate_fn=collate, multiprocessing_context=context
    )
    return list(loader)


@pytest.mark.slow
def test_mask_collator_in_spawned_dataloader_workers():
    _check_batches(collator_batches("spawn"), COLLATOR_ARGS)


@pytest.mark.slow
def test_mask_collator_in_forked_dataloader_workers(tmp_path):
    # A fresh process whose DataLoader forks its workers before it made any masks itself.
    script = (
        "import os, pickle, sys; sys.path[:0] = sys.argv[2].split(os.pathsep); "
        "import test_torch as t; "
        "pickle.dump(t.collator_batches('fork'), open(sys.argv[1], 'wb'))"
    )
    out = tmp_path / "batches.pkl"
    result = subprocess.run(
        [sys.executable, "-c", script, str(out), HELPER_PATHS],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    import pickle

    _check_batches(pickle.loads(out.read_bytes()), COLLATOR_ARGS)


@pytest.mark.slow
def test_mask_collator_forks_after_the_parent_made_difficulty_masks(tmp_path):
    script = (
        "import os, sys; sys.path[:0] = sys.argv[1].split(os.pathsep); import test_torch as t; "
        "t.generate('difficulty', 4, t.IMG, t.PATCH, t.RATIO, seed=0, target_p2dist=1.2); "
        "t._check_batches(t.collator_batches('fork'), t.COLLATOR_ARGS)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, HELPER_PATHS],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_mask_collator_in_the_main_process_drives_hf():
    args = {"metric": "p2dist", "grid": GRID, "patch_size": PATCH, "decoder_mask_ratio": 0.3}
    collate = MaskCollator(DifficultyWeighting(**args, seed=0), "random", mask_ratio=RATIO, seed=0)
    batch = collate([Images()[i] for i in range(4)])
    run = runner("hf")
    with torch.no_grad(), DecoderMasking(run.model, batch["targets"]):
        _, pred, mask = run.forward(batch["pixel_values"], batch["noise"])
    assert torch.equal(mask.bool(), batch["targets"].mask)
    # Same seed, same batch; picklable.
    import pickle

    clone = pickle.loads(pickle.dumps(MaskCollator(DifficultyWeighting(**args, seed=0), seed=0)))
    other = clone([Images()[i] for i in range(4)])
    torch.testing.assert_close(other["targets"].mask, batch["targets"].mask)


# --- examples ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["custom_loop.py", "hf_vitmae.py", "fb_mae.py"])
def test_example_runs_and_prints_a_finite_loss(name):
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    losses = [
        float(line.split("loss")[-1].split()[0])
        for line in result.stdout.splitlines()
        if "loss" in line
    ]
    assert losses and all(math.isfinite(v) for v in losses), result.stdout


# --- bad input (issue 27, items 10, 12, 13, 24 and "Also") --------------------------------


@pytest.mark.parametrize("bad", [0.5, 2.0, float("nan"), -1.0])
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_noise_for_mask_refuses_values_that_are_not_0_or_1(kind, bad):
    mask = np.zeros((2, L), np.float32)
    mask[:, : L // 2] = 1.0
    mask[1, 3] = bad
    with pytest.raises(ValueError, match="only 0/1") as error:
        noise_for_mask(torch.from_numpy(mask) if kind == "torch" else mask)
    assert len(str(error.value).splitlines()) == 1


def test_empty_batches_give_empty_targets_and_noise():
    empty = np.zeros((0, GRID, GRID), bool)
    targets = DifficultyWeighting("p2dist", grid=GRID, patch_size=PATCH, decoder_mask_ratio=0.2)(
        empty
    )
    for name in ("mask", "keep", "difficulty", "weights", "noise"):
        assert tuple(getattr(targets, name).shape) == (0, L), name
    assert targets.ids_keep is not None and targets.ids_keep.shape[0] == 0
    assert tuple(noise_for_mask(torch.zeros(0, L, dtype=torch.bool)).shape) == (0, L)
    assert tuple(noise_for_mask(np.zeros((0, GRID, GRID), bool)).shape) == (0, L)


@pytest.mark.parametrize("patch_size", [0, -4, 4.7, True, "4"])
def test_patchify_and_weighting_refuse_a_patch_size_that_is_not_a_positive_int(patch_size):
    with pytest.raises((TypeError, ValueError), match="patch_size") as error:
        patchify(images(1), patch_size)
    assert len(str(error.value).splitlines()) == 1
    with pytest.raises((TypeError, ValueError), match="patch_size"):
        DifficultyWeighting("p2dist", grid=GRID, patch_size=patch_size)


def test_decoder_masking_on_a_model_without_decoder_blocks_is_one_line():
    model = fb_model()
    model.decoder_blocks = torch.nn.ModuleList()
    with pytest.raises(ValueError, match="no decoder blocks") as error:
        DecoderMasking(model)
    assert len(str(error.value).splitlines()) == 1


def test_decoder_masking_checks_the_targets_against_the_models_mask_ratio():
    """A collator at 0.6 with an HF model at 0.75: the model would mask 48 patches where the
    targets have 38; the hook says so instead of training on mismatched targets."""
    args = {"metric": "p2dist", "grid": GRID, "patch_size": PATCH, "decoder_mask_ratio": 0.3}
    collate = MaskCollator(DifficultyWeighting(**args, seed=0), "random", mask_ratio=0.6, seed=0)
    batch = collate([Images()[i] for i in range(4)])
    run = runner("hf")
    with torch.no_grad(), DecoderMasking(run.model, batch["targets"]):
        with pytest.raises(ValueError, match="mask_ratio") as error:
            run.forward(batch["pixel_values"], batch["noise"])
    assert "25" in str(error.value) and "16" in str(error.value)  # visible: targets, model
    assert len(str(error.value).splitlines()) == 1
    fb = runner("fb")  # fb-MAE takes mask_ratio in forward(): given to the hook
    with torch.no_grad(), DecoderMasking(fb.model, batch["targets"], mask_ratio=RATIO):
        with pytest.raises(ValueError, match="mask_ratio"):
            fb.forward(batch["pixel_values"], batch["noise"])


class DictImages(torch.utils.data.Dataset):
    def __init__(self, extra: str):
        self.extra = extra

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int):
        return {"pixel_values": torch.zeros(3, IMG, IMG), self.extra: torch.tensor(index)}


@pytest.mark.parametrize("key", ["noise", "targets"])
def test_mask_collator_refuses_to_overwrite_a_samples_own_keys(key):
    collate = MaskCollator(DifficultyWeighting(**COLLATOR_ARGS, seed=0), mask_ratio=RATIO, seed=0)
    samples = [DictImages(key)[i] for i in range(4)]
    with pytest.raises(ValueError, match=f"'{key}'") as error:
        collate(samples)
    assert len(str(error.value).splitlines()) == 1
    renamed = MaskCollator(
        DifficultyWeighting(**COLLATOR_ARGS, seed=0),
        mask_ratio=RATIO,
        seed=0,
        noise_key="mask_noise",
        targets_key="mask_targets",
    )
    batch = renamed(samples)
    assert torch.equal(batch[key], torch.arange(4))  # the sample's own values, kept
    assert batch["mask_targets"].mask.shape == (4, L) and batch["mask_noise"].shape == (4, L)


@pytest.mark.parametrize(
    ("strategy", "kwargs", "words"),
    [
        ("bogus", {"mask_ratio": RATIO}, "strategy"),
        ("random", {"mask_ratio": 1.5}, "mask_ratio"),
        ("random", {"mask_ratio": float("nan")}, "mask_ratio"),
        ("simmim", {"mask_ratio": RATIO, "mask_patch_size": 12}, "must divide"),  # 32 px
        ("difficulty", {"mask_ratio": RATIO}, "target"),
    ],
)
def test_mask_collator_checks_strategy_and_ratio_at_construction(strategy, kwargs, words):
    with pytest.raises((TypeError, ValueError), match=words) as error:
        MaskCollator(DifficultyWeighting(**COLLATOR_ARGS), strategy, **kwargs)
    assert len(str(error.value).splitlines()) == 1


class _Sums(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int):
        return torch.zeros(3, IMG, IMG), index


@pytest.mark.slow
@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_sync_bins_inside_a_dataloader_worker_is_refused(context):
    """Issue 27, item 10: a worker cannot join the training process's all-reduce (fork hung,
    spawn silently gave local weights); it says so, naming what to do instead."""
    weighting = DifficultyWeighting(**COLLATOR_ARGS, sync_bins=True)
    collate = MaskCollator(weighting, mask_ratio=RATIO, seed=0)
    loader = torch.utils.data.DataLoader(
        _Sums(),
        batch_size=4,
        num_workers=1,
        collate_fn=collate,
        multiprocessing_context=context,
        timeout=120,
    )
    with pytest.raises(ValueError, match="DataLoader worker") as error:
        next(iter(loader))
    assert "sync_weights" in str(error.value)


def test_sync_weights_in_the_training_process_equals_syncing_at_creation(tmp_path):
    """Targets made without syncing (as in workers), synced in the training process, equal
    targets made with sync_bins=True there (a one-process gloo group)."""
    import torch.distributed as dist

    masks = generate("block", 16, IMG, PATCH, RATIO, seed=5)
    worker_side = DifficultyWeighting("p2dist", grid=GRID, patch_size=PATCH, seed=0)
    local = worker_side(masks)
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        synced = worker_side.sync_weights(local)
        direct = DifficultyWeighting("p2dist", grid=GRID, patch_size=PATCH, seed=0, sync_bins=True)(
            masks
        )
    finally:
        dist.destroy_process_group()
    torch.testing.assert_close(synced.weights, direct.weights, rtol=0, atol=0)
    assert torch.equal(synced.keep, local.keep) and synced.weights.dtype == torch.float32
