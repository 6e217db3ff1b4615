"""The ``maskstats`` command line: ``main`` (entry point), ``parser`` (flags, generated from the
settings dataclasses), ``argtypes`` (text -> values), ``commands`` (what each subcommand does).
Nothing in the library imports this package."""

from maskstats.cli.main import main

__all__ = ["main"]
