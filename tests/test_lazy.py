"""The packages that load their names on first use (maskstats, maskstats.masks,
maskstats.report) give every name of ``__all__``, the same objects as the defining modules,
and say the same names to type checkers (their ``if TYPE_CHECKING:`` imports)."""

import ast
import importlib
import inspect
import subprocess
import sys

import pytest

LAZY = ("maskstats", "maskstats.masks", "maskstats.report")


def _checked_imports(module) -> dict[str, str]:
    """name -> defining module, from the package's ``if TYPE_CHECKING:`` block."""
    tree = ast.parse(inspect.getsource(module))
    found = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for item in node.body:
                assert isinstance(item, ast.ImportFrom)
                found.update({alias.name: item.module for alias in item.names})
    return found


@pytest.mark.parametrize("name", LAZY)
def test_every_public_name_loads_from_its_module(name):
    package = importlib.import_module(name)
    checked = _checked_imports(package)
    assert set(checked) == set(package.__all__)
    for public, home in checked.items():
        value = getattr(package, public)
        assert value is getattr(importlib.import_module(home), public), public
        assert public in dir(package)


@pytest.mark.parametrize("name", LAZY)
def test_from_import_of_all_names_works_in_a_fresh_interpreter(name):
    code = (
        f"from {name} import *\nimport {name} as p\nprint(all(n in globals() for n in p.__all__))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.strip() == "True", run.stderr


def test_an_unknown_name_is_an_attribute_error():
    import maskstats

    with pytest.raises(AttributeError, match="no attribute 'random_mask'"):
        maskstats.random_mask  # noqa: B018
    with pytest.raises(ImportError):
        from maskstats.masks import random_mask  # noqa: F401


def test_submodules_load_on_attribute_access():
    code = "import maskstats\nprint(maskstats.masks.generators.random_masks.__module__)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.strip() == "maskstats.masks.generators", run.stderr
