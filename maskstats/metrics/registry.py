"""What each metric is: name, paper name, unit, per patch or per mask, and orientation. The
one place that says whether higher means harder (``Metric.difficulty``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Metric:
    """What a metric is, so that tables, weights and the trainer can iterate and orient.

    Attributes:
        name: API name, e.g. "p2dist".
        paper_name: the Efficient MAE paper's (or SimMIM's) name.
        unit: "patches", "1/patch", "patch", or "px".
        per_patch: True for (N, H, W) results, False for one number per mask.
        higher_is_harder: orientation: True when a larger value means harder to reconstruct.
        needs_visible: a mask with no visible patch has no defined value.
        discrete_values: the finite set of values (density3 on images), else None.
        video_only: defined on clips only (the temporal gap); left out of ``METRIC_NAMES``
            and ``PATCH_METRICS``, which list the image metrics.
    """

    name: str
    paper_name: str
    unit: str
    per_patch: bool
    higher_is_harder: bool
    needs_visible: bool
    discrete_values: tuple[float, ...] | None = None
    video_only: bool = False

    def difficulty(self, values: np.ndarray) -> np.ndarray:
        """Return ``values`` oriented so that higher = harder."""
        return values if self.higher_is_harder else -values

    def from_difficulty(self, difficulty: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`difficulty`: oriented difficulty back in the metric's own units."""
        return difficulty if self.higher_is_harder else -difficulty


REGISTRY: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "density3",
            "Number of Patches in 3x3",
            "patches",
            True,
            False,
            False,
            tuple(float(v) for v in range(9)),
        ),
        Metric("invdist5", "Sum of Patch Distance in 5x5", "1/patch", True, False, False),
        Metric("nearest", "Nearest Patch Distance", "patch", True, True, True),
        Metric("p2dist", "P²Dist", "patch", True, True, True),
        Metric("avgdist", "AvgDist (SimMIM)", "px", False, True, True),
        Metric(
            "temporal",
            "Temporal gap (frames to the same position visible)",
            "frames",
            True,
            True,
            False,
            video_only=True,
        ),
    )
}
"""Every metric by name: its paper name, unit and orientation (``higher_is_harder``)."""
PATCH_METRICS = tuple(name for name, m in REGISTRY.items() if m.per_patch and not m.video_only)
"""The image metrics with one value per masked patch (all but ``avgdist``, one per mask)."""
METRIC_NAMES = tuple(name for name, m in REGISTRY.items() if not m.video_only)
"""The image metrics, in order (``compute``'s default on (N, H, W) masks)."""
VIDEO_METRIC_NAMES = (*METRIC_NAMES, "temporal")
"""Every metric of clips (``compute``'s default on (N, T, H, W) masks)."""
