"""Lazy re-exports (PEP 562): a package lists its public names, and each is loaded from the
module that defines it when first used. ``import maskstats`` and ``maskstats --help`` then
load neither numba nor scipy, while ``from maskstats import random_masks`` and
``maskstats.random_masks`` work as before (the first use loads the defining module)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, Iterable[str]], submodules: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose names load on first use.

    Args:
        package: the package's ``__name__``.
        exports: defining module (absolute name) -> the public names it gives the package.
        submodules: submodules (short names) that attribute access loads, as an eager
            ``import`` of them in the package would have made available.

    Returns:
        ``(__getattr__, __dir__)`` to assign at the package's top level. A loaded name is
        stored in the package, so later uses are plain attribute reads.
    """
    where = {name: module for module, names in exports.items() for name in names}
    children = frozenset(submodules)

    def __getattr__(name: str) -> Any:
        if name in where:
            value = getattr(importlib.import_module(where[name]), name)
        elif name in children:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where) | children)

    return __getattr__, __dir__
