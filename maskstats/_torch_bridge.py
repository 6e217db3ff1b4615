"""Convert between numpy arrays and torch tensors without importing torch up front.

Torch is only touched when the caller already passed a tensor, so ``import maskstats``
never imports torch.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


def is_tensor(obj: Any) -> bool:
    """True when ``obj`` is a torch.Tensor (checked without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def tensor_to_numpy(tensor: Any) -> tuple[np.ndarray, Any]:
    """Return (array, device). CPU tensors are shared, not copied."""
    device = tensor.device
    return tensor.detach().cpu().numpy(), device


def numpy_to_tensor(array: np.ndarray, device: Any) -> Any:
    """Wrap ``array`` as a tensor on ``device`` (no copy on the CPU)."""
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor if device.type == "cpu" else tensor.to(device)
