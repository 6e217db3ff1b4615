"""Settings fields that carry their own command-line description, so that each default is
written once: in the settings dataclass. ``maskstats.cli`` builds the flags from them."""

from __future__ import annotations

import dataclasses
from typing import Any


def option(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    kind: str | None = None,
    choices: tuple[str, ...] | None = None,
    aliases: tuple[str, ...] = (),
    cli: bool = True,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field with its command-line flag described.

    Args:
        default: the one default value.
        help: one line for ``--help``.
        kind: how the CLI parses the text (a name in ``maskstats.cli.argtypes.KINDS``, e.g.
            "positive_int", "ratio", "seeds"); None: from the default's type.
        choices: allowed values.
        aliases: extra flag spellings (e.g. MAE's ``--norm_pix_loss``).
        cli: False for settings the CLI does not expose.
        default_factory: as in ``dataclasses.field``.

    Returns:
        A ``dataclasses.field``.
    """
    metadata = {"help": help, "kind": kind, "choices": choices, "aliases": aliases, "cli": cli}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)
