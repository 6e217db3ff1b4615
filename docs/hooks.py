"""Build hooks of the documentation site (``hooks:`` in mkdocs.yml).

Four jobs, each keeping one source of truth so that the site cannot drift from the code:

1. **Repository files in the site.** The pages link to ``../figures/x.png``,
   ``../examples/x.py``, ... so that the links work on GitHub too. The site serves the files of
   ``figures/``, ``examples/`` and ``analysis/`` under the same paths (``site/figures/...``) and
   every relative link of a page that leaves ``docs/`` for one of them is rewritten to that
   copy; a link to a folder opens a generated listing of its files. A link to a file that does
   not exist, or one that leaves ``docs/`` for another folder, is logged as a warning (so
   ``--strict`` fails). Nothing is copied into ``docs/``.
2. **The CLI reference.** ``<!-- cli-reference -->`` in ``cli.md`` is replaced, at build time,
   by the help of every subcommand of :func:`maskstats.cli.parser.build_parser` (whose flags
   come from the settings dataclasses). No generated file is committed.
3. **Docstrings as Markdown.** The package's docstrings are Google style with a few
   reStructuredText habits (``:func:`name```, a paragraph ending in ``::`` before a literal
   block, summaries over two lines). :class:`RstToMarkdown`, a griffe extension
   (``extensions:`` in mkdocs.yml), renders those as code spans, ``:`` and one-line summaries,
   at build time only; the package is not changed.
4. **The API check.** Every public name of each module in :data:`API_MODULES` (its
   ``__all__``, else its public names as griffe sees them) must be rendered on an API page
   (an anchor ``module.name``, or the anchor of the same object under another listed module)
   and must have a docstring. Each missing name is logged as an error naming it, which fails
   ``mkdocs build --strict``.
"""

from __future__ import annotations

import io
import logging
import os
import posixpath
import re
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import griffe
from mkdocs.structure.files import File, Files, InclusionLevel

log = logging.getLogger("mkdocs.hooks.maskstats")

ROOT = Path(__file__).resolve().parents[1]
#: Repository folders served by the site under their own names.
MOUNTED = ("figures", "examples", "analysis")
#: The modules whose every public name the API reference must render with a docstring.
API_MODULES = (
    "maskstats",
    "maskstats.masks",
    "maskstats.metrics",
    "maskstats.weights",
    "maskstats.torch",
    "maskstats.torch_video",
    "maskstats.plot",
    "maskstats.mae",
    "maskstats.literature",
    "maskstats.recon",
)
#: Pages whose anchors count as the API reference.
API_PAGES = "reference/"
CLI_PLACEHOLDER = "<!-- cli-reference -->"
#: Replaced by a table of the top-level names of ``maskstats``, each linked to its entry.
SUMMARY_PLACEHOLDER = "<!-- api-top-level -->"
#: Tutorials are optional in the nav until their files exist (they are merged separately).
TUTORIALS = "tutorials/"

_anchors: set[str] = set()
_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")


# -- 1. repository files -------------------------------------------------------------------


def on_config(config: Any) -> Any:
    """Drop nav entries of tutorials whose file does not exist yet (logged as info)."""
    docs = Path(config["docs_dir"])

    def keep(entry: Any) -> bool:
        if isinstance(entry, dict):
            ((title, value),) = entry.items()
            if isinstance(value, list):
                value[:] = [e for e in value if keep(e)]
                return bool(value)
            entry = value
        if isinstance(entry, str) and entry.startswith(TUTORIALS) and not (docs / entry).exists():
            log.info("tutorial %s not in docs/ yet: left out of the nav", entry)
            return False
        return True

    if config["nav"]:
        config["nav"][:] = [e for e in config["nav"] if keep(e)]
    _anchors.clear()
    _names.clear()
    return config


def on_files(files: Files, config: Any) -> Files:
    """Serve the files of the mounted repository folders under the same paths."""
    for folder in MOUNTED:
        for path in sorted((ROOT / folder).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(ROOT).as_posix()
            file = File(rel, str(ROOT), config["site_dir"], config["use_directory_urls"])
            if file.is_documentation_page():
                # figures/*.md are tables written by the analysis scripts: pages of the site,
                # reached from the results pages, not in the nav.
                file.inclusion = InclusionLevel.NOT_IN_NAV
            files.append(file)
        for path in sorted([ROOT / folder, *(ROOT / folder).rglob("*")]):
            if path.is_dir() and path.name != "__pycache__":
                listing = File.generated(config, _listing_uri(path), content=_listing(path))
                listing.inclusion = InclusionLevel.NOT_IN_NAV
                files.append(listing)
    return files


def _listing_uri(folder: Path) -> str:
    return f"{folder.relative_to(ROOT).as_posix()}/index.md"


def _listing(folder: Path) -> str:
    """A page listing a mounted folder's files (what a link to the folder opens)."""
    rel = folder.relative_to(ROOT).as_posix()
    lines = [f"# {rel}/", "", f"The files of `{rel}/` in the repository:", ""]
    for path in sorted(folder.iterdir()):
        if path.name == "__pycache__":
            continue
        name = f"{path.name}/" if path.is_dir() else path.name
        target = f"{path.name}/index.md" if path.is_dir() else path.name
        lines.append(f"- [{name}]({target})")
    return "\n".join(lines) + "\n"


def _rewrite_links(markdown: str, src_uri: str) -> str:
    """Point links that leave docs/ for a mounted folder at the site's copy."""
    page_dir = posixpath.dirname(src_uri)

    def fix(match: re.Match[str]) -> str:
        target = match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target):
            return match.group(0)
        path, hash_, anchor = target.partition("#")
        in_repo = posixpath.normpath(posixpath.join("docs", page_dir, path))
        if in_repo.startswith("docs/") or in_repo == "docs":
            return match.group(0)  # inside docs/: mkdocs checks it
        top = in_repo.split("/")[0]
        if top not in MOUNTED:
            log.warning(
                "%s: link %r leaves docs/ for %s/, which the site does not serve",
                src_uri,
                target,
                top,
            )
            return match.group(0)
        if (ROOT / in_repo).is_dir():
            in_repo = _listing_uri(ROOT / in_repo)
        elif not (ROOT / in_repo).is_file():
            log.warning("%s: link %r is not a file of the repository", src_uri, target)
            return match.group(0)
        new = posixpath.relpath(in_repo, page_dir or ".")
        return match.group(1) + new + hash_ + anchor + match.group(3)

    out, fence = [], ""  # the open code fence (its backticks or tildes), "" outside one
    for line in markdown.splitlines(keepends=True):
        marker = re.match(r"\s*(`{3,}|~{3,})", line)
        if marker and not fence:
            fence = marker.group(1)
        elif marker and marker.group(1).startswith(fence) and not line.strip().strip(fence[0]):
            fence = ""
        elif not fence:
            line = _LINK.sub(fix, line)
        out.append(line)
    return "".join(out)


# -- 2. the CLI reference ------------------------------------------------------------------


def cli_reference() -> str:
    """Markdown of every subcommand's help, from the parser the CLI runs."""
    from maskstats.cli.parser import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "90"  # argparse wraps at $COLUMNS: the same page everywhere
    try:
        parser = build_parser()
        (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        lines = ["| command | what it does |", "|---|---|"]
        helps = {a.dest: a.help for a in sub._choices_actions}
        for name in sub.choices:
            lines.append(f"| [`maskstats {name}`](#maskstats-{name}) | {helps.get(name, '')} |")
        lines.append("")
        lines += ["## `maskstats`", "", "```text", parser.format_help().rstrip(), "```", ""]
        for name, command in sub.choices.items():
            lines += [f"## `maskstats {name}` {{#maskstats-{name}}}", ""]
            lines += ["```text", command.format_help().rstrip(), "```", ""]
        return "\n".join(lines)
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Rewrite repository links; fill the CLI reference in."""
    if page.file.src_uri.split("/")[0] in MOUNTED:
        # A page of figures/ itself: its links are the repository's own; its title its path.
        if not re.search(r"^# ", markdown, re.M):
            markdown = f"# `{page.file.src_uri}`\n\n{markdown}"
        return markdown
    if CLI_PLACEHOLDER in markdown:
        with redirect_stdout(io.StringIO()):
            markdown = markdown.replace(CLI_PLACEHOLDER, cli_reference())
    if SUMMARY_PLACEHOLDER in markdown:
        markdown = markdown.replace(SUMMARY_PLACEHOLDER, top_level_table())
    return _rewrite_links(markdown, page.file.src_uri)


# -- 3. docstrings as Markdown -------------------------------------------------------------

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|obj|exc|const):`~?([^`]+)`")


def rst_to_markdown(text: str) -> str:
    """Sphinx roles as code spans, ``a*b`` not as emphasis, ``::`` before a literal block as
    ``:``, and the first paragraph (the summary the API tables show) on one line."""
    text = _ROLE.sub(lambda m: f"`{m.group(1)}`", text)
    # A * between two word characters (H*p) is arithmetic, not emphasis: escape it outside
    # code spans.
    parts = re.split(r"(`+[^`]*`+)", text)
    text = "".join(
        part if i % 2 else re.sub(r"(?<=\w)\*(?=\w)", r"\\*", part) for i, part in enumerate(parts)
    )
    text = re.sub(r"(?<=\S)::$", ":", text, flags=re.M)
    first, sep, rest = text.partition("\n\n")
    if not re.search(r"^\s*(```|[-*] |\w+:$)", first, re.M):
        first = " ".join(line.strip() for line in first.splitlines())
    return first + sep + rest


class RstToMarkdown(griffe.Extension):
    """Griffe extension: :func:`rst_to_markdown` on every docstring mkdocstrings renders."""

    def on_instance(self, *, node: Any, obj: Any, agent: Any, **kwargs: Any) -> None:
        """Rewrite the object's docstring as it is loaded."""
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)


# -- 4. the API check ----------------------------------------------------------------------


def on_page_content(html: str, page: Any, config: Any, files: Files) -> str:
    """Collect the anchors of the API pages."""
    if page.file.src_uri.startswith(API_PAGES):
        _anchors.update(re.findall(r'\bid="([^"]+)"', html))
    return html


def top_level_table() -> str:
    """The names of ``maskstats`` with their summary line, linked to where they are rendered
    (the submodule page that documents the same object)."""
    names = public_names()
    lines = ["| name | summary | documented in |", "|---|---|---|"]
    for name, obj in names["maskstats"].items():
        target = _target(obj)
        home = next(
            (
                f"{m}.{n}"
                for m in API_MODULES[1:]
                for n, o in names[m].items()
                if _target(o) == target
            ),
            f"maskstats.{name}",
        )
        doc = rst_to_markdown(_docstring(obj))
        summary = doc.split("\n\n")[0].splitlines()[0].rstrip(".") if doc else ""
        module = home.rsplit(".", 1)[0]
        lines.append(f"| [`{name}`][{home}] | {summary.replace('|', '/')} | `{module}` |")
    return "\n".join(lines) + "\n"


def _docstring(obj: Any) -> str:
    try:
        doc = (obj.final_target if obj.is_alias else obj).docstring
    except Exception:  # an alias griffe cannot resolve
        return ""
    return doc.value.strip() if doc is not None else ""


_names: dict[str, dict[str, Any]] = {}


def public_names() -> dict[str, dict[str, Any]]:
    """{module: {name: griffe object}} of every public name of :data:`API_MODULES` (loaded
    once per build)."""
    if _names:
        return _names

    package = griffe.load(
        "maskstats", search_paths=[str(ROOT)], resolve_aliases=True, resolve_external=False
    )
    modules = {m: package if m == "maskstats" else package[m.split(".", 1)[1]] for m in API_MODULES}
    names: dict[str, dict[str, Any]] = {}
    for path, module in modules.items():
        if module.exports is not None:
            names[path] = {str(n): module[str(n)] for n in module.exports}
        else:  # no __all__: the public names defined in the module (re-exports: below)
            names[path] = {
                n: m
                for n, m in module.members.items()
                if not n.startswith("_") and not m.is_alias and not m.is_module
            }
    # A module without __all__ also exports what it imports from maskstats when no other listed
    # module has it (maskstats.plot's reconstruction figures, from maskstats.plot_recon).
    owned = {_target(o) for objs in names.values() for o in objs.values()}
    for path, module in modules.items():
        if module.exports is not None:
            continue
        for n, m in module.members.items():
            if n.startswith("_") or not m.is_alias or not m.target_path.startswith("maskstats."):
                continue
            if _target(m) not in owned and not _is_module(m):
                names[path][n] = m
    _names.update(names)
    return names


def _is_module(obj: Any) -> bool:
    try:
        return bool(obj.is_module)
    except Exception:  # an alias griffe cannot resolve
        return False


def _target(obj: Any) -> str:
    try:
        return obj.final_target.path if obj.is_alias else obj.path
    except Exception:  # an alias griffe cannot resolve: only its own path counts
        return obj.path


def on_post_build(config: Any) -> None:
    """Log an error for each public name that has no docstring or is not rendered."""
    names = public_names()
    # An object counts as rendered wherever one of its names has an anchor.
    rendered = set(_anchors)
    for module_path, objs in names.items():
        rendered |= {_target(o) for n, o in objs.items() if f"{module_path}.{n}" in _anchors}
    for module_path, objs in names.items():
        for name, obj in objs.items():
            path = f"{module_path}.{name}"
            if not _docstring(obj):
                log.error(
                    "API reference: public name %s has no docstring (so it is not rendered)", path
                )
            elif path not in _anchors and _target(obj) not in rendered:
                log.error(
                    "API reference: public name %s is not rendered on any page under docs/%s",
                    path,
                    API_PAGES,
                )
