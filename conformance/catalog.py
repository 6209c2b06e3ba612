"""The Direct Line 3.0 requirements catalog and the JSON Schemas of its wire objects.

Everything that names a requirement (the ``requirement`` marker, verdicts, reports, the CLI's
``requirements`` listing) and everything that checks a body's shape reads the same packaged files
through this module, so there is one source of truth and it ships inside the wheel:

- ``specs/directline-3.0/requirements.json``, checked against ``catalog.schema.json``;
- ``specs/directline-3.0/schemas/<name>.json``, draft 2020-12 schemas that refer to each other by
  relative URI and resolve through a local registry: never through the network.

A broken file is a :class:`CatalogError` naming the file and the problem, never a traceback from
deep inside ``json`` or ``jsonschema``. ``jsonschema`` is imported on first use, so importing this
module (as the pytest plugin does) stays cheap.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.abc import Traversable

    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError
    from referencing import Registry

__all__ = [
    "FEATURES",
    "LEVELS",
    "READINGS",
    "Catalog",
    "CatalogError",
    "Requirement",
    "Source",
    "load_catalog",
    "schema",
    "schema_names",
    "validate",
]

LEVELS: tuple[str, ...] = ("MUST", "SHOULD", "MAY", "RETIRED")
"""RFC 2119 levels as the docs use them; RETIRED keeps a withdrawn id reserved."""

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

_SCHEMA_BASE = "https://directline-conformance.dev/schemas/directline-3.0/"
_CATALOG_FILE = "requirements.json"
_CATALOG_SCHEMA_FILE = "catalog.schema.json"
_SCHEMA_DIR = "schemas"
_MAX_MESSAGE = 240

# Where the spec files live; tests point this at a copy to check broken catalogs.
_SPECS: Traversable = resources.files("conformance.specs") / "directline-3.0"


class CatalogError(Exception):
    """A packaged catalog or schema file is missing, unreadable or inconsistent.

    Raised instead of the underlying JSON or jsonschema error so the message names the file and
    what is wrong with it; the CLI prints it as one line and exits 2.
    """


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
    level: str
    area: str
    title: str
    rule: str
    wire: str
    needs: tuple[str, ...]
    source: Source

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


def _read_json(path: Traversable) -> Any:
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


def _shorten(message: str) -> str:
    """Keep a message to one readable line: a huge instance repr is cut in the middle."""
    message = " ".join(message.split())
    if len(message) <= _MAX_MESSAGE:
        return message
    return message[: _MAX_MESSAGE // 2] + " … " + message[-(_MAX_MESSAGE // 2) :]


def _path_key(error: ValidationError) -> list[tuple[int, int, str]]:
    """Sort errors by instance path (indexes numerically), root first."""
    return [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path]


def _error_lines(errors: Iterable[ValidationError], ids: list[str] | None = None) -> list[str]:
    """One line per distinct error, "<json path>: <message>", in instance order."""
    lines: dict[str, None] = {}
    for error in sorted(errors, key=lambda e: (_path_key(e), e.message)):
        where = error.json_path
        path = list(error.absolute_path)
        if ids is not None and len(path) >= 2 and path[0] == "requirements":
            index = path[1]
            if isinstance(index, int) and index < len(ids) and ids[index]:
                where += f" ({ids[index]})"
        lines.setdefault(f"{where}: {_shorten(error.message)}", None)
    return list(lines)


def _problems(path: Traversable, problems: list[str]) -> CatalogError:
    """One CatalogError listing every problem found in one file."""
    if len(problems) == 1:
        return CatalogError(f"{path}: {problems[0]}")
    listed = "\n".join(f"  {problem}" for problem in problems)
    return CatalogError(f"{path}: {len(problems)} problems:\n{listed}")


@functools.cache
def load_catalog() -> Catalog:
    """The packaged catalog, checked against catalog.schema.json and for unique ids (cached)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    schema_path = _SPECS / _CATALOG_SCHEMA_FILE
    catalog_schema = _read_json(schema_path)
    try:
        Draft202012Validator.check_schema(catalog_schema)
    except SchemaError as exc:
        raise CatalogError(
            f"{schema_path}: not a valid draft 2020-12 schema: {_shorten(exc.message)}"
        ) from None

    path = _SPECS / _CATALOG_FILE
    data = _read_json(path)
    entries = data.get("requirements") if isinstance(data, dict) else None
    ids = [
        entry.get("id") if isinstance(entry, dict) and isinstance(entry.get("id"), str) else ""
        for entry in (entries if isinstance(entries, list) else [])
    ]
    problems = _error_lines(Draft202012Validator(catalog_schema).iter_errors(data), ids)
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
                level=entry["level"],
                area=entry["area"],
                title=entry["title"],
                rule=entry["rule"],
                wire=entry["wire"],
                needs=tuple(entry["needs"]),
                source=Source(**entry["source"]),
            )
            for entry in data["requirements"]
        ),
    )


def _refs(node: object) -> Iterator[str]:
    """Every $ref string in a schema document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


@functools.cache
def _schemas() -> dict[str, dict[str, Any]]:
    """Every packaged wire schema by name, each checked as draft 2020-12 with the expected $id."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    directory = _SPECS / _SCHEMA_DIR
    if not directory.is_dir():
        raise CatalogError(f"{directory}: schema directory is missing")
    found: dict[str, dict[str, Any]] = {}
    entries = [e for e in directory.iterdir() if e.name.endswith(".json") and e.is_file()]
    for entry in sorted(entries, key=lambda e: e.name[: -len(".json")]):
        name = entry.name[: -len(".json")]
        contents = _read_json(entry)
        if not isinstance(contents, dict):
            raise CatalogError(f"{entry}: a schema must be a JSON object")
        try:
            Draft202012Validator.check_schema(contents)
        except SchemaError as exc:
            raise CatalogError(
                f"{entry}: not a valid draft 2020-12 schema at {exc.json_path}: "
                f"{_shorten(exc.message)}"
            ) from None
        expected = _SCHEMA_BASE + entry.name
        if contents.get("$id") != expected:
            raise CatalogError(f"{entry}: $id is {contents.get('$id')!r}, expected {expected!r}")
        found[name] = contents
    if not found:
        raise CatalogError(f"{directory}: no schema files")
    return found


@functools.cache
def _registry() -> Registry:
    """A registry of every packaged schema; it has no retriever, so nothing is ever fetched."""
    from referencing import Registry, Resource
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012

    schemas = _schemas()
    registry: Registry = Registry().with_resources(
        (contents["$id"], Resource.from_contents(contents, default_specification=DRAFT202012))
        for contents in schemas.values()
    )
    for name, contents in schemas.items():
        resolver = registry.resolver(base_uri=contents["$id"])
        for ref in _refs(contents):
            try:
                resolver.lookup(ref)
            except Unresolvable:
                raise CatalogError(
                    f"{_SPECS / _SCHEMA_DIR / (name + '.json')}: $ref {ref!r} does not resolve "
                    "to a packaged schema"
                ) from None
    return registry.crawl()


def _unknown(name: str) -> CatalogError:
    return CatalogError(f"unknown schema {name!r}; known: {', '.join(_schemas())}")


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    """One validator per schema, built once: validation runs on every recorded answer."""
    from jsonschema import Draft202012Validator

    schemas = _schemas()
    if name not in schemas:
        raise _unknown(name)
    return Draft202012Validator(schemas[name], registry=_registry())


def schema_names() -> list[str]:
    """Names of the packaged wire schemas, e.g. ``activity-set``, sorted."""
    return list(_schemas())


def schema(name: str) -> dict[str, Any]:
    """A copy of one wire schema (for hypothesis strategies and reports); the cache stays intact."""
    schemas = _schemas()
    if name not in schemas:
        raise _unknown(name)
    return copy.deepcopy(schemas[name])


def validate(instance: object, name: str) -> list[str]:
    """Check a decoded JSON body against a wire schema: [] when valid, else one line per error.

    Each line reads ``<json path>: <message>``, e.g. ``$.expires_in: '1800' is not of type
    'integer'``, so a failure message can quote it as the observed deviation. Format keywords
    (``date-time``) are annotations only; the suite checks timestamps itself.
    """
    return _error_lines(_validator(name).iter_errors(instance))


def _clear_caches() -> None:
    """Forget loaded files (tests that swap ``_SPECS`` for a broken copy)."""
    for cached in (load_catalog, _schemas, _registry, _validator):
        cached.cache_clear()
