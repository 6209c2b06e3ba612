"""The Direct Line 3.0 requirements catalog: every rule with its stable id, level and needs.

Everything that names a requirement (the ``requirement`` marker, verdicts, reports, the CLI's
``requirements`` listing) reads ``requirements.json`` through :func:`load_catalog`, checked
against ``catalog.schema.json``, so there is one source of truth and it ships inside the wheel.
A rule the suite deliberately does not test says why in its ``untested`` field. A broken file is
a :class:`CatalogError` naming the file and the problem. ``jsonschema`` is imported on first use,
so importing this module (as the pytest plugin does) stays cheap.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from conformance.catalog.files import CatalogError, error_lines, read_json, shorten, spec_path

if TYPE_CHECKING:
    from importlib.abc import Traversable

__all__ = [
    "FEATURES",
    "READINGS",
    "Catalog",
    "Level",
    "Requirement",
    "Source",
    "load_catalog",
]


class Level(str, Enum):
    """RFC 2119 levels as the docs use them, strongest first; RETIRED keeps a withdrawn id
    reserved. A requirement's level says whether its failure fails a run (see
    conformance.verdicts.failing)."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"
    RETIRED = "RETIRED"

    def __str__(self) -> str:
        return self.value

    @property
    def rank(self) -> int:
        """Position in strength order: 0 is the strongest (MUST)."""
        return list(Level).index(self)

    @classmethod
    def strongest(cls, levels: Iterable[Level]) -> Level:
        """The strongest of ``levels`` (of a failure naming several rules)."""
        return min(levels, key=lambda level: level.rank)


FEATURES: frozenset[str] = frozenset(
    {
        "auth",
        "tokens",
        "token_expiry",
        "websocket",
        "reconnect",
        "upload",
        "echo_bot",
        "bot_cards",
        "bot_error",
        "bot_end",
        "bot_slow",
        "bot_welcome",
        "user_binding",
        "eoc_refuse",
        "eoc_forward",
        "enhanced_auth",
        "cors",
    }
)
"""The profile features a requirement may need (REQUIREMENTS.md "Needs")."""

READINGS: frozenset[str] = frozenset({"eoc_refuse", "eoc_forward"})
"""The two readings of endOfConversation; a target is certified under exactly one."""

_CATALOG_FILE = "requirements.json"
_CATALOG_SCHEMA_FILE = "catalog.schema.json"


@dataclass(frozen=True)
class Source:
    """Where a rule comes from, so a failure can point the reader at the text it enforces."""

    page: str
    section: str
    refs: str


@dataclass(frozen=True)
class Requirement:
    """One rule of the catalog; immutable so fixtures and reports can share it freely."""

    id: str
    level: Level
    area: str
    title: str
    rule: str
    wire: str
    needs: tuple[str, ...]
    source: Source
    #: Why the suite deliberately has no test for it ("" when it has one): a rule whose every
    #: outcome conforms, or one a run must not provoke.
    untested: str = ""

    @property
    def reading(self) -> str | None:
        """The endOfConversation reading this rule belongs to, or None when it holds under both."""
        return next((need for need in self.needs if need in READINGS), None)

    @property
    def features(self) -> tuple[str, ...]:
        """The needs that are profile features proper (the reading left out)."""
        return tuple(need for need in self.needs if need not in READINGS)


class Catalog:
    """The requirements in catalog order, looked up by id; read-only once built."""

    __slots__ = ("_index", "_items", "_name", "_version")
    _index: dict[str, Requirement]
    _items: tuple[Requirement, ...]
    _name: str
    _version: int

    def __init__(self, name: str, version: int, requirements: Iterable[Requirement]) -> None:
        items = tuple(requirements)
        index = {req.id: req for req in items}
        if len(index) != len(items):
            raise ValueError("requirement ids must be unique")
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_version", version)
        object.__setattr__(self, "_items", items)
        object.__setattr__(self, "_index", index)

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Catalog is read-only")

    @property
    def name(self) -> str:
        """The catalog's name, e.g. ``directline-3.0``."""
        return self._name

    @property
    def version(self) -> int:
        """The catalog file's version, reported beside every verdict."""
        return self._version

    def __getitem__(self, rid: str) -> Requirement:
        try:
            return self._index[rid]
        except KeyError:
            raise KeyError(f"unknown requirement id {rid!r}") from None

    def __contains__(self, rid: object) -> bool:
        return isinstance(rid, str) and rid in self._index

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"<Catalog {self._name} v{self._version}: {len(self._items)} requirements>"

    def get(self, rid: str) -> Requirement | None:
        """The requirement with this id, or None: for callers that report unknown ids themselves."""
        return self._index.get(rid)

    def areas(self) -> list[str]:
        """Areas (AUTH, TOKEN, ...) in catalog order, for grouping reports."""
        return list(dict.fromkeys(req.area for req in self._items))


def _schema_problems(data: Any) -> list[str]:
    """What in the catalog file does not match catalog.schema.json (a schema that is itself
    no valid draft 2020-12 schema is a CatalogError)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    schema_path = spec_path(_CATALOG_SCHEMA_FILE)
    catalog_schema = read_json(schema_path)
    try:
        Draft202012Validator.check_schema(catalog_schema)
    except SchemaError as exc:
        raise CatalogError(
            f"{schema_path}: not a valid draft 2020-12 schema: {shorten(exc.message)}"
        ) from None
    entries = data.get("requirements") if isinstance(data, dict) else None
    ids = [
        str(entry["id"]) if isinstance(entry, dict) and isinstance(entry.get("id"), str) else ""
        for entry in (entries if isinstance(entries, list) else [])
    ]
    return error_lines(Draft202012Validator(catalog_schema).iter_errors(data), ids)


def _problems(path: Traversable, problems: list[str]) -> CatalogError:
    """One CatalogError listing every problem found in one file."""
    if len(problems) == 1:
        return CatalogError(f"{path}: {problems[0]}")
    listed = "\n".join(f"  {problem}" for problem in problems)
    return CatalogError(f"{path}: {len(problems)} problems:\n{listed}")


@functools.cache
def load_catalog(*, schema_checked: bool = False) -> Catalog:
    """The packaged catalog, checked against catalog.schema.json and for unique ids (cached).

    ``schema_checked``: another process of the run (a pytest-xdist worker's controller) has
    already checked this installed file against its schema, so it is only parsed: the check
    costs each worker about 50 ms of CPU at start-up."""
    path = spec_path(_CATALOG_FILE)
    data = read_json(path)
    problems = [] if schema_checked else _schema_problems(data)
    if problems:
        raise _problems(path, [f"does not match {_CATALOG_SCHEMA_FILE}: {p}" for p in problems])

    first_seen: dict[str, int] = {}
    for index, entry in enumerate(data["requirements"]):
        rid = entry["id"]
        if rid in first_seen:
            problems.append(
                f"duplicate id {rid} ($.requirements[{first_seen[rid]}] and "
                f"$.requirements[{index}])"
            )
        else:
            first_seen[rid] = index
        area = rid.split("-")[1]
        if entry["area"] != area:
            problems.append(f"{rid}: area {entry['area']!r} does not match its id ({area!r})")
        readings = sorted(READINGS.intersection(entry["needs"]))
        if len(readings) > 1:
            problems.append(f"{rid}: needs both readings {' and '.join(readings)}")
    if problems:
        raise _problems(path, problems)

    return Catalog(
        data["catalog"],
        data["version"],
        (
            Requirement(
                id=entry["id"],
                level=Level(entry["level"]),
                area=entry["area"],
                title=entry["title"],
                rule=entry["rule"],
                wire=entry["wire"],
                needs=tuple(entry["needs"]),
                source=Source(**entry["source"]),
                untested=entry.get("untested", ""),
            )
            for entry in data["requirements"]
        ),
    )
