"""Difficulty statistics while training: quantiles, share and mean loss per difficulty bin,
weight range and effective sample size, decoder tokens kept."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from maskstats.metrics import REGISTRY
from maskstats.tables import QUANTILES
from maskstats.weights import Binning


@dataclass
class DifficultyStats:
    """Accumulates per-patch records over a log interval or an epoch.

    Difficulty is kept in the metric's own units (``raw``); bins are the weighting's bins.
    """

    metric: str
    binning: Binning
    raw_masked: list[np.ndarray] = field(default_factory=list)
    bin_loss_sum: np.ndarray | None = None
    bin_loss_count: np.ndarray | None = None
    weights: list[np.ndarray] = field(default_factory=list)
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
    ) -> None:
        """Record one micro-batch.

        Args:
            difficulty_masked: (M,) oriented difficulty of every masked patch.
            difficulty_kept: (K,) oriented difficulty of the patches in the loss.
            patch_loss: (K,) reconstruction loss of those patches.
            weights_kept: (K,) their loss weights.
            decoder_tokens: decoder sequence length per sample.
            loss: the micro-batch's weighted loss.
        """
        self.raw_masked.append(REGISTRY[self.metric].from_difficulty(difficulty_masked))
        bins = self.binning.assign(difficulty_kept)
        self.bin_loss_sum += np.bincount(bins, patch_loss, self.binning.num_bins)
        self.bin_loss_count += np.bincount(bins, minlength=self.binning.num_bins)
        self.weights.append(weights_kept)
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
            "decoder_tokens": list(self.decoder_tokens),
            "losses": list(self.losses),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.raw_masked = list(state["raw_masked"])
        self.bin_loss_sum = np.asarray(state["bin_loss_sum"], dtype=np.float64).copy()
        self.bin_loss_count = np.asarray(state["bin_loss_count"], dtype=np.float64).copy()
        self.weights = list(state["weights"])
        self.decoder_tokens = [int(v) for v in state["decoder_tokens"]]
        self.losses = [float(v) for v in state["losses"]]

    def summary(self) -> dict:
        """A JSON-ready dict: difficulty quantiles (metric units), share of masked patches per
        bin, mean loss per bin (NaN -> None where a bin had no kept patch), weight min/max,
        effective sample size as a share of patches ((sum w)^2 / sum w^2 / K), decoder
        tokens kept, mean loss."""
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
            "decoder_tokens": float(np.mean(self.decoder_tokens)) if self.decoder_tokens else None,
        }
        if raw.size:
            for q, v in zip(QUANTILES, np.quantile(raw, QUANTILES), strict=True):
                out[f"difficulty_q{round(q * 100)}"] = float(v)
        return out
