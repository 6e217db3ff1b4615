"""The maskstats version: the one place it is written (pyproject.toml reads it from here,
``maskstats.__version__``, ``maskstats --version`` and the reports' manifests show it)."""

__version__ = "0.2.0"
