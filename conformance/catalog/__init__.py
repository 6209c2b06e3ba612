"""The Direct Line 3.0 catalog: its requirements and the JSON Schemas of its wire objects.

- :mod:`~conformance.catalog.files`: the shipped spec files (:func:`spec_path`) and reading them;
- :mod:`~conformance.catalog.requirements`: the rules (:func:`load_catalog`, :class:`Level`);
- :mod:`~conformance.catalog.schemas`: the wire schemas (:func:`validate`, :func:`schema`).

The bottom of the kit above its errors and evidence: it knows nothing of targets, clients or
the suite.
"""

from conformance.catalog import requirements, schemas
from conformance.catalog.files import CatalogError, spec_path
from conformance.catalog.requirements import (
    FEATURES,
    READINGS,
    Catalog,
    Level,
    Requirement,
    Source,
    load_catalog,
)
from conformance.catalog.schemas import schema, schema_names, validate

__all__ = [
    "FEATURES",
    "READINGS",
    "Catalog",
    "CatalogError",
    "Level",
    "Requirement",
    "Source",
    "load_catalog",
    "schema",
    "schema_names",
    "spec_path",
    "validate",
]


def _clear_caches() -> None:
    """Forget loaded files (tests that swap the spec files for a broken copy)."""
    requirements.load_catalog.cache_clear()
    for cached in (schemas._schemas, schemas._registry, schemas._validator):
        cached.cache_clear()
