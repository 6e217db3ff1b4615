"""MkDocs hook: links between pages inside the tutorials (notebooks rendered by mkdocs-jupyter).

mkdocs-jupyter renders a notebook with nbconvert, so MkDocs never sees its Markdown and leaves
a link such as ``../metrics.md`` as it is: a 404 on the site (danielfrg/mkdocs-jupyter#157).
This hook points each relative ``.md`` / notebook link of a notebook page at the target page's
URL, so that the tutorials keep links that also work on GitHub and in Jupyter. A link to a
file the site does not have is logged as a warning, which ``mkdocs build --strict`` turns into
a failure, as it does for ordinary pages.

Enable it in mkdocs.yml::

    hooks:
      - docs/hooks/notebook_links.py
"""

from __future__ import annotations

import logging
import posixpath
import re

from mkdocs.utils import get_relative_url

log = logging.getLogger("mkdocs.hooks.notebook_links")

NOTEBOOK_SUFFIXES = (".py", ".ipynb")
LINK = re.compile(r'href="(?![a-z][a-z0-9+.-]*:|/|#)([^"#?]+\.(?:md|ipynb|py))(#[^"]*)?"')


def on_page_content(html, page, config, files):
    """Rewrite the relative page links of a notebook page to the site's URLs."""
    if not page.file.src_uri.endswith(NOTEBOOK_SUFFIXES):
        return html
    base = posixpath.dirname(page.file.src_uri)

    def target(match: re.Match) -> str:
        path, anchor = match.group(1), match.group(2) or ""
        src = posixpath.normpath(posixpath.join(base, path))
        found = files.get_file_from_path(src)
        if found is None:
            log.warning("%s links to %s, which is not in the docs", page.file.src_uri, path)
            return match.group(0)
        return f'href="{get_relative_url(found.url, page.url)}{anchor}"'

    return LINK.sub(target, html)
