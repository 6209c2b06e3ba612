"""The spec files shipped with the kit, and reading them so a broken one says what is wrong.

The catalog (``requirements.json`` and its schema), the wire schemas (``schemas/*.json``) and
the schema of ``report.json`` live in the ``conformance.specs`` package data (``specs/`` of the
source tree). Every module that needs one asks :func:`spec_path`; a file that cannot be read or
parsed is a :class:`CatalogError` naming it, never a traceback from deep inside ``json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.abc import Traversable

    from jsonschema.exceptions import ValidationError

__all__ = ["CatalogError", "error_lines", "read_json", "shorten", "spec_path"]

#: The longest validation message kept on one line.
_MAX_MESSAGE = 240

# Where the spec files live; tests point this at a copy to check broken catalogs.
_SPECS: Traversable = resources.files("conformance.specs") / "directline-3.0"


class CatalogError(Exception):
    """A packaged catalog or schema file is missing, unreadable or inconsistent.

    Raised instead of the underlying JSON or jsonschema error so the message names the file and
    what is wrong with it; the CLI prints it as one line and exits 2.
    """


def spec_path(*parts: str) -> Traversable:
    """A shipped spec file or folder of Direct Line 3.0, e.g. ``spec_path("report.schema.json")``
    or ``spec_path("schemas")``."""
    path = _SPECS
    for part in parts:
        path = path / part
    return path


def read_json(path: Traversable) -> Any:
    """Parse one packaged JSON file, turning every failure into a CatalogError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


def shorten(message: str) -> str:
    """Keep a message to one readable line: a huge instance repr is cut in the middle."""
    message = " ".join(message.split())
    if len(message) <= _MAX_MESSAGE:
        return message
    return message[: _MAX_MESSAGE // 2] + " … " + message[-(_MAX_MESSAGE // 2) :]


def _path_key(error: ValidationError) -> list[tuple[int, int, str]]:
    """Sort errors by instance path (indexes numerically), root first."""
    return [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path]


def error_lines(errors: Iterable[ValidationError], ids: list[str] | None = None) -> list[str]:
    """One line per distinct validation error, "<json path>: <message>", in instance order
    (``ids``: the catalog's requirement ids, named beside a path into its requirements)."""
    lines: dict[str, None] = {}
    for error in sorted(errors, key=lambda e: (_path_key(e), e.message)):
        where = error.json_path
        path = list(error.absolute_path)
        if ids is not None and len(path) >= 2 and path[0] == "requirements":
            index = path[1]
            if isinstance(index, int) and index < len(ids) and ids[index]:
                where += f" ({ids[index]})"
        lines.setdefault(f"{where}: {shorten(error.message)}", None)
    return list(lines)
