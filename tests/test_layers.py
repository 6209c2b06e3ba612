"""The package is layered in the order data flows, and stays so.

Every import in ``conformance/`` (at module level, inside a function, or for type checking
only) is read from the source. A module may import from its own layer and the layers below
it, never from one above; there is no import cycle; the reference server and the test bot
stand apart; nothing of the kit imports the old paths kept for users. A new module must be
given a layer here, so the order is a decision, not an accident.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "conformance"

#: Bottom first: each layer may import only from itself and the layers before it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # what every layer may use: the version, the exceptions, the evidence of an exchange
    ("base", ("conformance", "conformance.errors", "conformance.evidence")),
    # the catalog and the wire schemas, read from the shipped spec files
    ("catalog", ("conformance.catalog", "conformance.specs")),
    # settings, profiles, expectations, the target, what a test may cost
    ("config", ("conformance.config",)),
    # the recording Direct Line client and the run's governor
    ("client", ("conformance.client",)),
    # what reached a proxy's upstream (its recording read back) and the PROXY checks on it
    ("proxy", ("conformance.proxy",)),
    # the suite: its checks, steps, strategies and test modules
    ("suite", ("conformance.suite",)),
    # test outcomes -> verdicts -> the RunRecord
    ("verdicts", ("conformance.verdicts",)),
    # report.json, markdown, html, junit, compare: from a RunRecord or report.json alone
    ("reports", ("conformance.reports",)),
    # the pytest plugin that runs the suite and builds the RunRecord
    ("plugin", ("conformance.plugin",)),
    # the command line
    # the command line, and certify-proxy (two runs of it, the kit's recording upstream)
    ("cli", ("conformance.cli", "conformance.certify")),
)
#: Old module paths kept for users' imports (thin re-exports): nothing of the kit uses them.
SHIMS = ("conformance.expect", "conformance.profile")
#: Apart: what each may import besides itself (the reference server: nothing of the kit).
APART: dict[str, tuple[str, ...]] = {
    "conformance.reference": (),
    "conformance.testbot": ("conformance.errors", "conformance.config.profile"),
}
#: The layers that may start the reference server or the test bot.
USERS_OF_APART: dict[str, tuple[str, ...]] = {
    "conformance.reference": ("plugin", "cli"),
    "conformance.testbot": ("cli",),
}


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _imports(module: str) -> Iterator[str]:
    """The kit modules ``module`` imports (a ``from package import submodule`` names the
    submodule)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        yield from (t for t in targets if _under(t, "conformance") and t != module)


GRAPH = {module: sorted(set(_imports(module))) for module in MODULES}


def layer_of(module: str) -> int | None:
    """The index of the module's layer (None: a shim, or apart). The package itself
    (``conformance``, its version) is the base; every other prefix takes its submodules too."""
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or (prefix != "conformance" and _under(module, prefix)):
                return index
    return None


def _apart(module: str) -> str | None:
    return next((root for root in APART if _under(module, root)), None)


def test_every_module_has_a_place() -> None:
    placeless = [m for m in MODULES if layer_of(m) is None and m not in SHIMS and _apart(m) is None]
    assert placeless == []
    assert [m for m in MODULES if m == "conformance" or layer_of(m) is not None] != []


def back_edges(module: str, targets: list[str]) -> list[str]:
    """The imports of ``module`` (which has a layer) that reach above its layer, each with why."""
    own = layer_of(module)
    assert own is not None
    found = []
    for target in targets:
        root = _apart(target)
        if root is not None:
            if LAYERS[own][0] not in USERS_OF_APART[root]:
                found.append(f"{target} (apart: only {', '.join(USERS_OF_APART[root])} use it)")
            continue
        if target in SHIMS:
            found.append(f"{target} (an old path kept for users)")
            continue
        theirs = layer_of(target)
        if theirs is None or theirs > own:
            where = LAYERS[theirs][0] if theirs is not None else "no layer"
            found.append(f"{target} ({where}, above {LAYERS[own][0]})")
    return found


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Every import cycle a depth-first walk of ``graph`` meets."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in graph.get(module, []):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target in graph and not state.get(target):
                visit(target)
        path.pop()
        state[module] = 2

    for module in graph:
        if not state.get(module):
            visit(module)
    return found


@pytest.mark.parametrize("module", [m for m in MODULES if layer_of(m) is not None])
def test_no_module_imports_from_a_layer_above_it(module: str) -> None:
    assert back_edges(module, GRAPH[module]) == []


@pytest.mark.parametrize("root", sorted(APART))
def test_what_stands_apart_imports_only_what_it_needs(root: str) -> None:
    allowed = APART[root]
    outside = {
        (module, target)
        for module in MODULES
        if _under(module, root)
        for target in GRAPH[module]
        if not _under(target, root) and not any(_under(target, a) for a in allowed)
    }
    assert outside == set()


def test_the_old_paths_only_re_export() -> None:
    for shim in SHIMS:
        assert len(GRAPH[shim]) == 1, GRAPH[shim]


def test_there_is_no_import_cycle() -> None:
    assert cycles(GRAPH) == []


def test_the_checks_see_what_they_look_for() -> None:
    """Neither check is blind: a back edge, a cycle, and the real edges of the walk show."""
    assert back_edges("conformance.catalog.files", ["conformance.plugin.hooks"]) != []
    assert back_edges("conformance.suite.steps", ["conformance.reference.server"]) != []
    assert back_edges("conformance.verdicts", ["conformance.expect"]) != []
    assert back_edges("conformance.plugin.session", ["conformance.reference.server"]) == []
    assert cycles({"a": ["b"], "b": ["c"], "c": ["a"]}) == [["a", "b", "c", "a"]]
    assert "conformance.suite.expect" in GRAPH["conformance.suite.steps"]
    assert "conformance.catalog.files" in GRAPH["conformance.catalog.requirements"]
