"""Difficulty statistics while training: quantiles, share and mean loss per difficulty bin,
weight range and effective sample size, the effective AvgDist of the loss, decoder tokens
kept."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from maskstats.metrics import REGISTRY
from maskstats.tables import QUANTILES
from maskstats.weights import Binning, LossDifficulty


@dataclass
class DifficultyStats:
    """Accumulates per-patch records over a log interval or an epoch.

    Difficulty is kept in the metric's own units (``raw``); bins are the weighting's bins.
    """

    metric: str
    binning: Binning
    patch_size: int = 16
    raw_masked: list[np.ndarray] = field(default_factory=list)
    bin_loss_sum: np.ndarray = field(default_factory=lambda: np.zeros(0))  # set in post_init
    bin_loss_count: np.ndarray = field(default_factory=lambda: np.zeros(0))
    weights: list[np.ndarray] = field(default_factory=list)
    p2dist_kept: list[np.ndarray] = field(default_factory=list)
    decoder_tokens: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bin_loss_sum = np.zeros(self.binning.num_bins)
        self.bin_loss_count = np.zeros(self.binning.num_bins)

    def add(
        self,
        difficulty_masked: np.ndarray,
        difficulty_kept: np.ndarray,
        patch_loss: np.ndarray,
        weights_kept: np.ndarray,
        decoder_tokens: int,
        loss: float,
        p2dist_kept: np.ndarray,
    ) -> None:
        """Record one micro-batch.

        Args:
            difficulty_masked: (M,) oriented difficulty of every masked patch.
            difficulty_kept: (K,) oriented difficulty of the patches in the loss.
            patch_loss: (K,) reconstruction loss of those patches.
            weights_kept: (K,) their loss weights.
            decoder_tokens: decoder sequence length per sample.
            loss: the micro-batch's weighted loss.
            p2dist_kept: (K,) P2Dist (patches) of the patches in the loss, for the effective
                AvgDist.
        """
        self.raw_masked.append(REGISTRY[self.metric].from_difficulty(difficulty_masked))
        bins = self.binning.assign(difficulty_kept)
        self.bin_loss_sum += np.bincount(bins, patch_loss, self.binning.num_bins)
        self.bin_loss_count += np.bincount(bins, minlength=self.binning.num_bins)
        self.weights.append(weights_kept)
        self.p2dist_kept.append(np.asarray(p2dist_kept, np.float32))
        self.decoder_tokens.append(decoder_tokens)
        self.losses.append(loss)

    def state_dict(self) -> dict:
        """The accumulated records (not the binning), for a checkpoint: a resumed run continues
        the interval and the epoch where the checkpoint left them."""
        return {
            "raw_masked": list(self.raw_masked),
            "bin_loss_sum": self.bin_loss_sum.copy(),
            "bin_loss_count": self.bin_loss_count.copy(),
            "weights": list(self.weights),
            "p2dist_kept": list(self.p2dist_kept),
            "decoder_tokens": list(self.decoder_tokens),
            "losses": list(self.losses),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.raw_masked = list(state["raw_masked"])
        self.bin_loss_sum = np.asarray(state["bin_loss_sum"], dtype=np.float64).copy()
        self.bin_loss_count = np.asarray(state["bin_loss_count"], dtype=np.float64).copy()
        self.weights = list(state["weights"])
        # Checkpoints before 0.2.0 kept no P2Dist: the effective AvgDist restarts there.
        self.p2dist_kept = list(state.get("p2dist_kept", []))
        self.decoder_tokens = [int(v) for v in state["decoder_tokens"]]
        self.losses = [float(v) for v in state["losses"]]

    def summary(self) -> dict:
        """A JSON-ready dict: difficulty quantiles (metric units), share of masked patches per
        bin, mean loss per bin (NaN -> None where a bin had no kept patch), weight min/max,
        effective sample size as a share of patches ((sum w)^2 / sum w^2 / K), the largest
        weight over the mean, the effective AvgDist of the loss and the unweighted AvgDist of
        its patches (px, :class:`maskstats.weights.LossDifficulty`), decoder tokens kept, mean
        loss."""
        raw = np.concatenate(self.raw_masked) if self.raw_masked else np.zeros(0)
        info = REGISTRY[self.metric]
        counts = np.bincount(
            self.binning.assign(info.difficulty(raw)), minlength=self.binning.num_bins
        )
        weights = np.concatenate(self.weights) if self.weights else np.zeros(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            bin_loss = self.bin_loss_sum / self.bin_loss_count
        out = {
            "metric": self.metric,
            "loss": float(np.mean(self.losses)) if self.losses else None,
            "bin_centre": [
                float(info.from_difficulty(c)) if np.isfinite(c) else None
                for c in self.binning.centres()
            ],
            "bin_share": (counts / max(counts.sum(), 1)).round(6).tolist(),
            "bin_loss": [None if not np.isfinite(v) else float(v) for v in bin_loss],
            "weight_min": float(weights.min()) if weights.size else None,
            "weight_max": float(weights.max()) if weights.size else None,
            "ess": float(weights.sum() ** 2 / (weights**2).sum() / weights.size)
            if weights.size
            else None,
            **_loss_difficulty(self.p2dist_kept, self.weights, self.patch_size),
            "decoder_tokens": float(np.mean(self.decoder_tokens)) if self.decoder_tokens else None,
        }
        if raw.size:
            for q, v in zip(QUANTILES, np.quantile(raw, QUANTILES), strict=True):
                out[f"difficulty_q{round(q * 100)}"] = float(v)
        return out


def _loss_difficulty(p2dist: list, weights: list, patch_size: int) -> dict:
    """effective_avgdist, loss_avgdist (px) and weight_max_over_mean of the recorded patches;
    None where nothing was recorded (or an old checkpoint left the P2Dist out)."""
    p2 = np.concatenate(p2dist) if p2dist else np.zeros(0)
    w = np.concatenate(weights) if weights else np.zeros(0)
    if p2.size == 0 or p2.size != w.size:
        return {"effective_avgdist": None, "loss_avgdist": None, "weight_max_over_mean": None}
    d = LossDifficulty.from_patches(p2, w, patch_size)
    return {
        "effective_avgdist": d.effective_avgdist,
        "loss_avgdist": d.avgdist,
        "weight_max_over_mean": d.max_weight,
    }
