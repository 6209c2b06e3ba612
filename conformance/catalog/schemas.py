"""The JSON Schemas of Direct Line's wire objects, and validating a body against them.

``specs/directline-3.0/schemas/<name>.json`` are draft 2020-12 schemas that refer to each other
by relative URI and resolve through a local registry: never through the network. The checks of
the suite quote :func:`validate`'s lines as what they observed; the Hypothesis strategies build
activities from :func:`schema`. ``jsonschema`` is imported on first use.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from conformance.catalog.files import CatalogError, error_lines, read_json, shorten, spec_path

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from referencing import Registry

__all__ = ["schema", "schema_names", "validate"]

_SCHEMA_BASE = "https://directline-conformance.dev/schemas/directline-3.0/"
_SCHEMA_DIR = "schemas"


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

    directory = spec_path(_SCHEMA_DIR)
    if not directory.is_dir():
        raise CatalogError(f"{directory}: schema directory is missing")
    found: dict[str, dict[str, Any]] = {}
    entries = [e for e in directory.iterdir() if e.name.endswith(".json") and e.is_file()]
    for entry in sorted(entries, key=lambda e: e.name[: -len(".json")]):
        name = entry.name[: -len(".json")]
        contents = read_json(entry)
        if not isinstance(contents, dict):
            raise CatalogError(f"{entry}: a schema must be a JSON object")
        try:
            Draft202012Validator.check_schema(contents)
        except SchemaError as exc:
            raise CatalogError(
                f"{entry}: not a valid draft 2020-12 schema at {exc.json_path}: "
                f"{shorten(exc.message)}"
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
                    f"{spec_path(_SCHEMA_DIR, name + '.json')}: $ref {ref!r} does not resolve "
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
    return error_lines(_validator(name).iter_errors(instance))
