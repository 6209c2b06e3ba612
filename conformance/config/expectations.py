"""Expectations files: a target's known deviations, each with a reason.

```toml
target = "my-emulator"          # optional, shown in reports

[expected]
"DL-STREAM-010" = "stream URLs never expire; tracked in issue 42"

[informational]
"DL-STREAM-012" = "keep-alive behaviour of this target is not documented"
```

A requirement in ``[expected]`` that fails is ``expected-fail`` and does not fail the run; one that
passes is ``unexpected-pass`` and does (strict: fixed deviations must be removed from the file,
so the file never hides a regression behind an old excuse).

A requirement in ``[informational]`` is one whose behaviour on this target is not documented
(the hosted service's, say): it is judged and reported like any other, ``compare`` lists its
changes apart, and it never fails the run, whatever its verdict. A rule is in one table at most.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from conformance.catalog import Catalog
from conformance.config.files import read_user_file
from conformance.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["Expectations", "load_expectations", "parse_expectations"]


@dataclass(frozen=True)
class Expectations(Mapping[str, str]):
    """Known deviations (``expected``: ID -> reason; the mapping itself) and rules whose
    behaviour on the target is undocumented (``informational``: ID -> reason)."""

    expected: Mapping[str, str] = field(default_factory=dict)
    informational: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None

    def __getitem__(self, rid: str) -> str:
        return self.expected[rid]

    def __iter__(self) -> Iterator[str]:
        return iter(self.expected)

    def __len__(self) -> int:
        return len(self.expected)

    @property
    def listed(self) -> int:
        """How many rules the file names, in both tables."""
        return len(self.expected) + len(self.informational)


def load_expectations(path: str | Path, catalog: Catalog) -> Expectations:
    """Requirement ID -> reason, from an expectations file; ConfigError names what is wrong."""
    text = read_user_file(path, "expectations file")
    return parse_expectations(text, catalog, source=str(path))


def parse_expectations(text: str, catalog: Catalog, *, source: str) -> Expectations:
    """Parse and validate expectations TOML against the catalog."""
    where = f"expectations file {source}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from None
    known = ("expected", "informational", "target")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(known)})")
    target = data.get("target")
    if target is not None and not isinstance(target, str):
        raise ConfigError(f"{where}: target must be a string, not {target!r}")
    expected = _table(data, "expected", catalog, where)
    informational = _table(data, "informational", catalog, where)
    both = sorted(set(expected) & set(informational))
    if both:
        raise ConfigError(f"{where}: {both[0]} is in both [expected] and [informational]")
    return Expectations(expected=expected, informational=informational, target=target)


def _table(data: dict[str, object], key: str, catalog: Catalog, where: str) -> dict[str, str]:
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [{key}] must be a table of ID = reason")
    result: dict[str, str] = {}
    for rid, reason in table.items():
        if rid not in catalog:
            raise ConfigError(f"{where}: {rid!r} is not a requirement of the catalog")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"{where}: {rid} needs a reason (a non-empty string)")
        result[rid] = reason.strip()
    return result
