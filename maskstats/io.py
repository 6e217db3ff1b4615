"""Reading mask files and writing tables, with one-line errors for bad files; the one atomic
writer (tables, masks, reports, checkpoints)."""

from __future__ import annotations

import math
import os
import re
import stat
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from maskstats._cleanup import stale_entries
from maskstats._validate import GridLike, as_grid, as_masks, as_video_masks, is_video_grid

NUMPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK"
TABLE_SUFFIXES = (".csv", ".parquet")
"""What :func:`write_table` writes: CSV, or Parquet (which needs pyarrow)."""
_FILE_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def check_mask_file(path: str | os.PathLike) -> Path:
    """Refuse, without opening it, a mask file that is missing or not a regular file.

    Returns:
        ``path`` as a Path.

    Raises:
        FileNotFoundError: no such file (or a link to nothing), one line.
        ValueError: a folder, a named pipe, a socket or a device, one line naming which.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            raise FileNotFoundError(
                f"mask file {path} is a link to {os.readlink(path)}, which does not exist"
            ) from None
        raise FileNotFoundError(f"mask file {path} does not exist") from None
    if stat.S_ISDIR(mode):
        raise ValueError(f"mask file {path} is a folder; pass a .npy or .npz file")
    for test, kind in _FILE_KINDS:
        if test(mode):
            raise ValueError(
                f"mask file {path} is {kind}, not a regular file; pass a .npy or .npz file"
            )
    return path


def open_mask_array(path: str | os.PathLike) -> np.ndarray:
    """The raw array of a mask file, memory-mapped where numpy can (an uncompressed .npy), so
    a large file is read chunk by chunk.

    Args:
        path: a .npy file, or an .npz whose first array holds the masks.

    Returns:
        The stored array as it is (any dtype and shape; :func:`load_masks` checks them).

    Raises:
        ValueError: not a regular file (:func:`check_mask_file`), a file that is not numpy's,
            an .npz whose first member is not a .npy array, or a damaged one (one line).
        FileNotFoundError: no such file.
    """
    path = check_mask_file(path)
    with open(path, "rb") as handle:
        head = handle.read(6)
    if head != NUMPY_MAGIC and not head.startswith(ZIP_MAGIC):
        raise ValueError(f"{path} is not a numpy file (.npy or .npz); save masks with numpy.save")
    try:
        if head == NUMPY_MAGIC:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        with np.load(path, allow_pickle=False) as archive:
            if not archive.files:
                raise ValueError("the .npz holds no array")
            first = archive.files[0]
            array = archive[first]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "pickle" in reason:
            reason = "it holds Python objects, not a boolean or 0/1 array"
        raise ValueError(
            f"cannot read masks from {path}: damaged or not masks ({reason})"
        ) from None
    if not isinstance(array, np.ndarray):  # numpy hands back a member that is not .npy as bytes
        raise ValueError(
            f"cannot read masks from {path}: its first member {first!r} is not a numpy array "
            "(.npy); save masks with numpy.savez"
        )
    return array


def _check_mask_array(array: np.ndarray, path: Path) -> None:
    if array.ndim not in (2, 3, 4):
        raise ValueError(
            f"{path} holds an array of shape {array.shape}; expected (N, H, W), (N, L) or "
            "clips (N, T, H, W)"
        )
    if array.shape[0] == 0:
        raise ValueError(f"{path} holds no masks (N = 0)")


def _as_file_masks(array: np.ndarray, grid: GridLike | None) -> np.ndarray:
    """Image masks (N, H, W), or clips (N, T, H, W) for 4-D arrays and (T, H, W) grids."""
    if array.ndim == 4 and grid is not None and not is_video_grid(grid):
        raise ValueError(
            f"it holds clips, an array of shape {tuple(array.shape)} (N, T, H, W), where image "
            f"masks on a {'x'.join(str(side) for side in as_grid(grid))} grid were asked for"
        )
    if array.ndim == 4 or is_video_grid(grid):
        return as_video_masks(array, grid)
    return as_masks(array, grid)


def load_masks(path: str | os.PathLike, grid: GridLike | None = None) -> np.ndarray:
    """Read masks saved with numpy (.npy, or the first array of an .npz).

    Args:
        path: file holding (N, H, W) or (N, L) masks, or clips (N, T, H, W), bool or 0/1,
            True = masked.
        grid: (H, W) for (N, L) files; (T, H, W) for (N, L) clips.

    Returns:
        (N, H, W) bool, or (N, T, H, W) for clips.

    Examples:
        (N, L) files need the grid:

        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> from maskstats.io import load_masks
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     np.save(Path(folder) / "flat.npy", np.eye(2, 4, dtype=np.uint8))  # (2, 4) 0/1
        ...     load_masks(Path(folder) / "flat.npy", grid=(2, 2)).tolist()
        [[[True, False], [False, False]], [[False, True], [False, False]]]
    """
    array = open_mask_array(path)
    _check_mask_array(array, Path(path))
    return _as_file_masks(np.asarray(array), grid)


def iter_mask_chunks(
    path: str | os.PathLike, grid: GridLike | None = None, chunk: int = 2048
) -> Iterator[np.ndarray]:
    """The masks of a file, ``chunk`` at a time, each (n, H, W) bool: a memory-mapped .npy is
    never read whole.

    Args:
        path: as :func:`load_masks`.
        grid: (H, W) for (N, L) files.
        chunk: masks per piece.
    """
    array = open_mask_array(path)
    _check_mask_array(array, Path(path))
    for start in range(0, array.shape[0], chunk):
        yield _as_file_masks(np.asarray(array[start : start + chunk]), grid)


def mask_count(path: str | os.PathLike) -> int:
    """Number of masks in a mask file (without reading them when it is a .npy)."""
    array = open_mask_array(path)
    _check_mask_array(array, Path(path))
    return int(array.shape[0])


def check_output_file(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse, before any work, an output that exists (unless ``overwrite``), is a folder, or
    lies in a folder that cannot be created.

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"output {path} is a folder; pass a file name")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass --overwrite to replace it")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise PermissionError(f"cannot write {path}: {parent} is not a writable folder")
    return path


def check_table_output(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """:func:`check_output_file` for :func:`write_table`, which also refuses a suffix it does
    not write (``TABLE_SUFFIXES``) and Parquet without pyarrow, before any work.

    Returns:
        ``path`` as a Path.
    """
    path = check_output_file(path, overwrite)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(
            f"cannot write a table to {path}: expected a file ending in "
            f"{' or '.join(TABLE_SUFFIXES)}, got {path.suffix or 'no suffix'}"
        )
    if suffix == ".parquet":
        import importlib.util

        if importlib.util.find_spec("pyarrow") is None:
            raise ValueError("writing Parquet needs pyarrow: pip install pyarrow")
    return path


def save_masks(path: str | os.PathLike, masks: np.ndarray, overwrite: bool = True) -> Path:
    """Write (N, H, W) bool masks (or (N, T, H, W) clips) to ``path`` (.npy, or .npz:
    compressed, the one member ``masks``), atomically, mode 0644 (umask applies);
    :func:`load_masks` reads either.

    Args:
        path: output file, ending in .npy or .npz.
        masks: (N, H, W) bool, True = masked; or clips (N, T, H, W).
        overwrite: replace an existing file (False: FileExistsError).

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from maskstats.io import load_masks, save_masks
        >>> from maskstats.masks import random_masks
        >>> masks = random_masks(3, 14, 0.75, seed=0)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = save_masks(Path(folder) / "masks.npz", masks)
        ...     back = load_masks(path)
        >>> path.name, back.shape, bool((back == masks).all())
        ('masks.npz', (3, 14, 14), True)
    """
    path = Path(path)
    if path.suffix not in (".npy", ".npz"):
        raise ValueError(f"mask output must end in .npy or .npz, got {path}")
    check_output_file(path, overwrite)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            data = as_video_masks(masks) if np.ndim(masks) == 4 else as_masks(masks)
            if path.suffix == ".npz":
                np.savez_compressed(handle, masks=data)
            else:
                np.save(handle, data)
    return path


def write_table(
    table: pd.DataFrame, path: str | os.PathLike, index: bool = False, overwrite: bool = True
) -> Path:
    """Write ``table`` as CSV, or Parquet when ``path`` ends in .parquet, atomically.

    Args:
        table: the table.
        path: output file (.csv, or .parquet, which needs pyarrow); any other suffix is
            refused (ValueError).
        index: write the index as a column.
        overwrite: replace an existing file (False: FileExistsError).

    Returns:
        ``path``.
    """
    path = check_table_output(path, overwrite)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".parquet":
            try:
                table.to_parquet(tmp, index=index)
            except ImportError:
                raise ValueError("writing Parquet needs pyarrow: pip install pyarrow") from None
        else:
            table.to_csv(tmp, index=index)
    return path


class atomic_path:
    """Context manager yielding a temporary path beside ``path``; renamed onto it on success,
    removed on failure. The file is created with mode 0666 less the umask (0644 usually), as
    ``open`` would, not mkstemp's 0600.

    The temporary is named ``.NAME.PID.8HEX.tmp``. A run killed before it could remove its
    temporary (SIGKILL; SIGTERM and SIGHUP too where no
    :func:`maskstats._cleanup.terminate_on_signals` turns them into exceptions) leaves one;
    the next write of the same file removes those whose process is gone."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        sweep_temporaries(self.path)
        for attempt in range(100):
            name = f".{self.path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
            tmp = self.path.parent / name
            try:
                handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:  # pragma: no cover - 32 random bits collided
                if attempt == 99:
                    raise
                continue
            os.close(handle)
            self.tmp = tmp
            return tmp
        raise AssertionError("unreachable")  # pragma: no cover

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def sweep_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of :class:`atomic_path` for ``path`` that a killed run left
    (named ``.NAME.PID.8HEX.tmp`` beside it, PID no longer running).

    Returns:
        The files removed.
    """
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?P<pid>\d+)\.[0-9a-f]{{8}}\.tmp")
    removed = []
    for stale, _ in stale_entries(path.parent, pattern):
        try:
            stale.unlink()
        except OSError:  # gone already, or not ours to remove: leave it
            continue
        removed.append(stale)
    return removed


# --------------------------------------------------------------------------- tables for papers


def _cell_text(value: object, float_format: str) -> str:
    """One cell as text: blank for NaN/None, floats with ``float_format``."""
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        return "" if not math.isfinite(float(value)) else float_format.format(float(value))
    text = str(value)
    return "" if text.strip().lower() in ("nan", "nan ± nan", "none") else text


def table_cells(table: pd.DataFrame, float_format: str = "{:.3f}") -> list[list[str]]:
    """The table's cells as text, index first: blanks for NaN, floats formatted.

    Returns:
        Rows of strings, each ``[index, *columns]``.
    """
    return [
        [_cell_text(index, float_format), *(_cell_text(v, float_format) for v in row)]
        for index, row in zip(table.index, table.itertuples(index=False), strict=True)
    ]


def to_markdown(table: pd.DataFrame, float_format: str = "{:.3f}") -> str:
    """A GitHub-flavoured Markdown table: the index as the first column (its name as header),
    numbers right-aligned, NaN as a blank cell.

    Returns:
        The table, ending in a newline.
    """
    header = [str(table.index.name or ""), *(str(c) for c in table.columns)]
    rows = table_cells(table, float_format)
    numeric = [False] + [pd.api.types.is_numeric_dtype(table[c]) for c in table.columns]
    widths = [
        max(len(h), *(len(r[k]) for r in rows)) if rows else len(h) for k, h in enumerate(header)
    ]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        ("-" * (w + 1) + ":") if num else (":" + "-" * (w + 1))
        for w, num in zip(widths, numeric, strict=True)
    )
    return "\n".join([line(header), rule + "|", *(line(r) for r in rows)]) + "\n"


LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "µ": r"$\mu$",
    "μ": r"$\mu$",
    "²": r"$^2$",
    "³": r"$^3$",
    "×": r"$\times$",
    "→": r"$\rightarrow$",
    "←": r"$\leftarrow$",
    "↑": r"$\uparrow$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "–": "--",
    "—": "---",
}


def latex_escape(text: str) -> str:
    """``text`` safe for pdflatex without extra packages: LaTeX's special characters escaped,
    and ±, µ, ², ×, arrows and dashes written as LaTeX commands."""
    return "".join(LATEX_ESCAPES.get(char, char) for char in text)


def to_latex(table: pd.DataFrame, float_format: str = "{:.3f}") -> str:
    """A plain LaTeX ``tabular`` (no package needed; compiles with pdflatex): one header row
    (the index name heads the first column; no separate index-name row), NaN as a blank cell,
    text escaped with :func:`latex_escape`.

    Returns:
        The tabular environment, ending in a newline.
    """
    numeric = [pd.api.types.is_numeric_dtype(table[c]) for c in table.columns]
    spec = "l" + "".join("r" if num else "l" for num in numeric)
    header = [str(table.index.name or ""), *(str(c) for c in table.columns)]
    lines = [
        f"\\begin{{tabular}}{{{spec}}}",
        "\\hline",
        " & ".join(latex_escape(h) for h in header) + " \\\\",
        "\\hline",
    ]
    for row in table_cells(table, float_format):
        lines.append(" & ".join(latex_escape(c) for c in row) + " \\\\")
    lines += ["\\hline", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def export_table(
    table: pd.DataFrame, stem: str | os.PathLike, float_format: str = "{:.3f}"
) -> list[Path]:
    """Write ``table`` as stem.csv (numbers as they are), stem.md and stem.tex (blanks for NaN,
    floats with ``float_format``), each atomically.

    Returns:
        The three paths.
    """
    stem = Path(stem)
    paths = [stem.with_suffix(".csv"), stem.with_suffix(".md"), stem.with_suffix(".tex")]
    with atomic_path(paths[0]) as tmp:
        table.to_csv(tmp)
    for path, text in (
        (paths[1], to_markdown(table, float_format)),
        (paths[2], to_latex(table, float_format)),
    ):
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return paths
