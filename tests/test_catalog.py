"""The requirements catalog: it loads, it is complete and consistent, and a broken file says why."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import types
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from conformance import catalog
from conformance.catalog import (
    FEATURES,
    READINGS,
    Catalog,
    CatalogError,
    Level,
    Requirement,
    load_catalog,
)

# The shared spec sits beside the repository (../shared); CI has it, a bare checkout may not.
SHARED = Path(__file__).resolve().parents[2] / "shared"
REQUIREMENTS_MD = SHARED / "spec" / "REQUIREMENTS.md"
UPSTREAM = SHARED / "spec" / "upstream"
LIVE_MD = SHARED / "spec" / "LIVE.md"
SEEDS = SHARED / "seeds"

DOC_PAGES = {
    "concepts",
    "authentication",
    "start-conversation",
    "reconnect-to-conversation",
    "send-activity",
    "receive-activities",
    "end-conversation",
    "api-reference",
}

CATALOG = load_catalog()
ALL = list(CATALOG)
#: Areas of the kit's own, not from REQUIREMENTS.md: PROXY (what an intermediary in front of a
#: Direct Line service must do, from RFC 9110 and the Direct Line pages; issue 21).
KIT_AREAS = {"PROXY"}
#: An RFC 9110 section as the catalog names it: its number and title.
RFC_SECTION = re.compile(r"\d+(\.\d+)* [A-Z][A-Za-z -]+")


def _md_requirements() -> dict[str, str]:
    """id -> level, from the rows of REQUIREMENTS.md's tables."""
    rows = re.findall(
        r"^\| (DL-[A-Z]+-\d{3}) \| (MUST|SHOULD|MAY|RETIRED) \|",
        REQUIREMENTS_MD.read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    return dict(rows)


needs_requirements_md = pytest.mark.skipif(
    not REQUIREMENTS_MD.is_file(), reason=f"{REQUIREMENTS_MD} not present beside the repository"
)
needs_upstream = pytest.mark.skipif(
    not (UPSTREAM.is_dir() and LIVE_MD.is_file()),
    reason=f"{UPSTREAM} or {LIVE_MD} not present beside the repository",
)


# --- the packaged catalog -------------------------------------------------------------------


def test_catalog_loads_152_requirements() -> None:
    assert isinstance(CATALOG, Catalog)
    assert (CATALOG.name, CATALOG.version) == ("directline-3.0", 1)
    assert len(CATALOG) == 152
    assert sum(1 for req in CATALOG if req.area in KIT_AREAS) == 13


def test_ids_are_unique() -> None:
    ids = [req.id for req in CATALOG]
    assert len(ids) == len(set(ids))


def test_id_area_is_the_requirement_area() -> None:
    assert [req.id for req in CATALOG if req.id.split("-")[1] != req.area] == []


@needs_requirements_md
def test_every_id_of_requirements_md_is_in_the_catalog() -> None:
    missing = sorted(set(_md_requirements()) - {req.id for req in CATALOG})
    assert missing == []


@needs_requirements_md
def test_catalog_has_no_id_unknown_to_requirements_md() -> None:
    extra = sorted(
        {req.id for req in CATALOG if req.area not in KIT_AREAS} - set(_md_requirements())
    )
    assert extra == []


@needs_requirements_md
def test_levels_match_requirements_md() -> None:
    md = _md_requirements()
    assert [(r.id, r.level, md[r.id]) for r in CATALOG if md.get(r.id, r.level) != r.level] == []


def test_catalog_keeps_file_order() -> None:
    raw = json.loads((catalog.spec_path("requirements.json")).read_text(encoding="utf-8"))
    assert [req.id for req in CATALOG] == [entry["id"] for entry in raw["requirements"]]


def test_every_level_is_known() -> None:
    assert {req.level for req in CATALOG} <= set(Level)


@pytest.mark.parametrize("req", ALL, ids=lambda r: r.id)
def test_title_is_a_short_sentence(req: Requirement) -> None:
    title = req.title
    assert title == title.strip() and title, "empty or padded"
    assert 3 <= len(title.split()) <= 10, f"{len(title.split())} words"
    assert not title.endswith("."), "trailing period"
    first = title.split()[0].rstrip(",;:")
    # Sentence case; a title may open with a wire name (typing, streamUrl) the rule spells so.
    assert title[0].isupper() or first in req.rule, f"{first!r} neither capitalized nor a wire name"


def test_titles_are_unique() -> None:
    titles = [req.title for req in CATALOG]
    assert sorted(t for t in titles if titles.count(t) > 1) == []


def test_every_need_is_a_known_feature() -> None:
    assert {
        (req.id, need) for req in CATALOG for need in req.needs if need not in FEATURES
    } == set()


def test_readings_are_features() -> None:
    assert READINGS <= FEATURES


def test_features_match_catalog_schema() -> None:
    schema = json.loads((catalog.spec_path("catalog.schema.json")).read_text(encoding="utf-8"))
    item = schema["properties"]["requirements"]["items"]["properties"]
    assert set(item["needs"]["items"]["enum"]) == FEATURES
    assert tuple(item["level"]["enum"]) == tuple(Level)


def test_reading_is_the_eoc_need() -> None:
    assert CATALOG["DL-EOC-003"].reading == "eoc_refuse"
    assert CATALOG["DL-EOC-007"].reading == "eoc_forward"
    assert CATALOG["DL-START-001"].reading is None


def test_features_leave_out_the_reading() -> None:
    assert CATALOG["DL-EOC-004"].needs == ("eoc_refuse", "bot_end")
    assert CATALOG["DL-EOC-004"].features == ("bot_end",)
    assert CATALOG["DL-ISO-003"].features == CATALOG["DL-ISO-003"].needs


def test_no_requirement_needs_both_readings() -> None:
    assert [req.id for req in CATALOG if len(READINGS.intersection(req.needs)) > 1] == []


def test_areas_are_in_catalog_order() -> None:
    assert CATALOG.areas()[:3] == ["AUTH", "TOKEN", "START"]
    assert CATALOG.areas()[-2:] == ["HTTP", "PROXY"]
    assert len(CATALOG.areas()) == len(set(CATALOG.areas())) == 16


def test_lookup_by_id() -> None:
    assert CATALOG["DL-START-001"].title == "New conversation answers 201 Created"
    assert CATALOG.get("DL-START-001") is CATALOG["DL-START-001"]
    assert "DL-START-001" in CATALOG


def test_unknown_id_is_absent() -> None:
    assert CATALOG.get("DL-NOPE-001") is None
    assert "DL-NOPE-001" not in CATALOG
    assert 42 not in CATALOG
    with pytest.raises(KeyError, match="DL-NOPE-001"):
        CATALOG["DL-NOPE-001"]


def test_catalog_is_read_only() -> None:
    with pytest.raises(AttributeError):
        CATALOG.version = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        CATALOG["DL-START-001"].level = "MAY"  # type: ignore[misc]
    with pytest.raises(TypeError):
        CATALOG["DL-START-001"] = CATALOG["DL-START-002"]  # type: ignore[index]


def test_load_catalog_is_cached() -> None:
    assert load_catalog() is load_catalog()


@pytest.mark.parametrize("module", [catalog.files, catalog.requirements, catalog.schemas])
def test_all_lists_the_public_names(module: types.ModuleType) -> None:
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and name != "TYPE_CHECKING"
        and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", module.__name__) == module.__name__
    }
    assert set(module.__all__) == public


def test_the_package_exports_what_its_modules_define() -> None:
    defined = {
        name: getattr(module, name)
        for module in (catalog.files, catalog.requirements, catalog.schemas)
        for name in module.__all__
    }
    assert {name: getattr(catalog, name) for name in catalog.__all__}.items() <= defined.items()


# --- sources name real headings -------------------------------------------------------------


def _headings(markdown: str) -> list[tuple[int, str]]:
    """(level, text) of every ATX heading, anchors and padding removed."""
    found = []
    for match in re.finditer(r"^(#+)\s+(.*?)\s*$", markdown, flags=re.MULTILINE):
        text = re.sub(r"<a name=\"[^\"]*\"></a>", "", match.group(2)).strip()
        found.append((len(match.group(1)), text))
    return found


def _has_path(headings: list[tuple[int, str]], path: list[str]) -> bool:
    """True when the headings nest as path (A > B: B is a heading under A)."""

    def walk(start: int, parts: list[str], parent_level: int) -> bool:
        if not parts:
            return True
        for index in range(start, len(headings)):
            level, text = headings[index]
            if level <= parent_level:
                return False
            if text == parts[0] and walk(index + 1, parts[1:], level):
                return True
        return False

    return walk(0, path, 0)


def _page_text(page: str) -> str:
    if page in DOC_PAGES:
        name = f"bot-framework-rest-direct-line-3-0-{page}.md"
        return (UPSTREAM / "docs" / name).read_text(encoding="utf-8")
    if page == "swagger-overview":
        swagger = json.loads((UPSTREAM / "directline-3.0.json").read_text(encoding="utf-8"))
        return swagger["info"]["description"]
    if page == "activity-spec":
        return (UPSTREAM / "botframework-activity.md").read_text(encoding="utf-8")
    if page == "live":
        return LIVE_MD.read_text(encoding="utf-8")
    raise AssertionError(page)


@needs_upstream
@pytest.mark.parametrize("req", ALL, ids=lambda r: r.id)
def test_source_section_is_a_heading_of_its_page(req: Requirement) -> None:
    page, section = req.source.page, req.source.section
    if page == "rfc9110":  # not among the shared pages: the section must at least be one
        assert RFC_SECTION.fullmatch(section), f"{section!r} is not 'N.N Title' of RFC 9110"
        return
    if page == "seeds":
        anchor = f'<a name="{section.lower().replace(" ", "-")}">'
        for seed in sorted(SEEDS.glob("00[0-3]_*.txt")):
            assert anchor in seed.read_text(encoding="utf-8"), f"{seed.name} lacks {section!r}"
        return
    text = _page_text(page)
    if section.startswith("paths: "):
        swagger = json.loads((UPSTREAM / "directline-3.0.json").read_text(encoding="utf-8"))
        method, path = section.removeprefix("paths: ").split()[:2]
        assert method.lower() in swagger["paths"][path]
        return
    headings = _headings(text)
    pieces = section.split("; ") if page == "activity-spec" else [section]
    for piece in pieces:
        heading, _, rules = piece.partition(": ") if page == "activity-spec" else (piece, "", "")
        assert _has_path(headings, heading.split(" > ")), f"no heading {heading!r} on {page}"
        for rule in filter(None, rules.split(", ")):
            assert f"`{rule}`" in text, f"no rule {rule} in the Activity spec"


# --- a broken catalog says what is wrong ------------------------------------------------------


@pytest.fixture
def spec_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A writable copy of the spec directory that the catalog loader reads instead."""
    target = tmp_path / "directline-3.0"
    with resources.as_file(catalog.spec_path()) as source:
        shutil.copytree(source, target)
    monkeypatch.setattr(catalog.files, "_SPECS", target)
    catalog._clear_caches()
    yield target
    catalog._clear_caches()


def _edit(spec: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = spec / "requirements.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _error(spec: Path) -> str:
    with pytest.raises(CatalogError) as caught:
        load_catalog()
    message = str(caught.value)
    assert str(spec / "requirements.json") in message or str(spec) in message
    return message


def test_invalid_json_names_the_file_and_position(spec_copy: Path) -> None:
    (spec_copy / "requirements.json").write_text('{"catalog": ', encoding="utf-8")
    message = _error(spec_copy)
    assert "requirements.json: not valid JSON (line 1, column" in message


def test_missing_file_names_the_file(spec_copy: Path) -> None:
    (spec_copy / "requirements.json").unlink()
    assert "requirements.json: cannot be read" in _error(spec_copy)


def test_unknown_level_names_the_entry(spec_copy: Path) -> None:
    _edit(spec_copy, lambda d: d["requirements"][0].update(level="MUSTNT"))
    message = _error(spec_copy)
    assert "$.requirements[0].level (DL-AUTH-001): 'MUSTNT' is not one of" in message


def test_unknown_need_names_the_entry(spec_copy: Path) -> None:
    _edit(spec_copy, lambda d: d["requirements"][0]["needs"].append("telepathy"))
    assert "$.requirements[0].needs[1] (DL-AUTH-001): 'telepathy'" in _error(spec_copy)


def test_missing_field_is_named(spec_copy: Path) -> None:
    _edit(spec_copy, lambda d: d["requirements"][2].pop("title"))
    assert "$.requirements[2] (DL-AUTH-003): 'title' is a required property" in _error(spec_copy)


def test_empty_title_is_refused(spec_copy: Path) -> None:
    _edit(spec_copy, lambda d: d["requirements"][1].update(title=""))
    assert "$.requirements[1].title (DL-AUTH-002): '' should be non-empty" in _error(spec_copy)


def test_malformed_id_is_refused(spec_copy: Path) -> None:
    _edit(spec_copy, lambda d: d["requirements"][0].update(id="DL-AUTH-1"))
    assert "$.requirements[0].id (DL-AUTH-1): 'DL-AUTH-1' does not match" in _error(spec_copy)


def test_unknown_top_level_field_is_refused(spec_copy: Path) -> None:
    _edit(spec_copy, lambda d: d.update(extra=True))
    assert "Additional properties are not allowed ('extra' was unexpected)" in _error(spec_copy)


def test_duplicate_id_names_both_entries(spec_copy: Path) -> None:
    _edit(spec_copy, lambda d: d["requirements"][5].update(id="DL-AUTH-001"))
    message = _error(spec_copy)
    assert "duplicate id DL-AUTH-001 ($.requirements[0] and $.requirements[5])" in message


def test_area_that_contradicts_the_id_is_refused(spec_copy: Path) -> None:
    _edit(spec_copy, lambda d: d["requirements"][0].update(area="TOKEN"))
    assert "DL-AUTH-001: area 'TOKEN' does not match its id ('AUTH')" in _error(spec_copy)


def test_both_readings_on_one_requirement_is_refused(spec_copy: Path) -> None:
    def both(data: dict[str, Any]) -> None:
        entry = next(e for e in data["requirements"] if e["id"] == "DL-EOC-003")
        entry["needs"] = ["eoc_refuse", "eoc_forward"]

    _edit(spec_copy, both)
    assert "DL-EOC-003: needs both readings eoc_forward and eoc_refuse" in _error(spec_copy)


def test_every_problem_is_listed(spec_copy: Path) -> None:
    def two(data: dict[str, Any]) -> None:
        data["requirements"][0]["level"] = "MUSTNT"
        data["requirements"][1]["level"] = "OFTEN"

    _edit(spec_copy, two)
    message = _error(spec_copy)
    assert "2 problems" in message and "'MUSTNT'" in message and "'OFTEN'" in message


def test_broken_catalog_schema_names_the_schema_file(spec_copy: Path) -> None:
    (spec_copy / "catalog.schema.json").write_text('{"type": "thing"}', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"catalog\.schema\.json: not a valid draft 2020-12"):
        load_catalog()
