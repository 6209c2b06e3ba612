"""Expectations files: a target's known deviations, each with a reason.

```toml
target = "my-emulator"          # optional, shown in reports

[expected]
"DL-STREAM-010" = "stream URLs never expire; tracked in issue 42"
```

A listed requirement that fails is ``expected-fail`` and does not fail the run; one that passes
is ``unexpected-pass`` and does (strict: fixed deviations must be removed from the file, so the
file never hides a regression behind an old excuse).
"""

from __future__ import annotations

import sys
from pathlib import Path

from conformance.catalog import Catalog
from conformance.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["load_expectations", "parse_expectations"]


def load_expectations(path: str | Path, catalog: Catalog) -> dict[str, str]:
    """Requirement ID -> reason, from an expectations file; ConfigError names what is wrong."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"expectations file {path}: no such file")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"expectations file {path}: cannot be read ({exc})") from None
    return parse_expectations(text, catalog, source=str(path))


def parse_expectations(text: str, catalog: Catalog, *, source: str) -> dict[str, str]:
    """Parse and validate expectations TOML against the catalog."""
    where = f"expectations file {source}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"target", "expected"})
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: expected, target)")
    expected = data.get("expected", {})
    if not isinstance(expected, dict):
        raise ConfigError(f"{where}: [expected] must be a table of ID = reason")
    result: dict[str, str] = {}
    for rid, reason in expected.items():
        if rid not in catalog:
            raise ConfigError(f"{where}: {rid!r} is not a requirement of the catalog")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"{where}: {rid} needs a reason (a non-empty string)")
        result[rid] = reason.strip()
    return result
