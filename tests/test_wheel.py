"""The wheel users install: built from this checkout, installed into a fresh venv, and run.

`python -m build --no-isolation` (build, setuptools and setuptools-scm come with the dev
extra, so nothing is downloaded) makes the sdist, then the wheel from the unpacked sdist, as
a release does (and no stale `build/` folder of the checkout can slip into the wheel). The
wheel alone goes into a new venv and
`directline-conformance run -k smoke` runs from there, outside the checkout: a module, a
profile or a catalog file missing from the wheel fails here, not on a user's machine.

The fresh venv gets the kit's dependencies by a `.pth` line naming this venv's
site-packages (the registry is not needed, and pip stays out of the run). Only the
directory is added, not its `.pth` files, so the editable install of this checkout stays
invisible there: `conformance` can only come from the wheel, and the test checks that.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.external import install_lock

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
BUILD_TIMEOUT = 300
RUN_TIMEOUT = 300
MUST_SHIP = [
    "conformance/cli.py",
    "conformance/client/http.py",
    "conformance/plugin/__init__.py",
    "conformance/plugin/hooks.py",
    "conformance/reference/app.py",
    "conformance/suite/test_start_conversation.py",
    "conformance/testbot/app.py",
    "conformance/config/profiles/reference.toml",
    "conformance/config/profiles/live.expect.toml",
    "conformance/specs/directline-3.0/requirements.json",
    # every package of the source tree (one left out of pyproject's list would be missing)
    *sorted(str(init.relative_to(REPO)) for init in (REPO / "conformance").rglob("__init__.py")),
]


def _run(args: list[str], timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        args, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The wheel of this checkout, built once per session: the tests of this module may run on
    several pytest-xdist workers, and two builds at once in one checkout trip over each other's
    staging folders, so the first builds (under a lock) and the others take its wheel."""
    if importlib.util.find_spec("build") is None:
        pytest.skip("the `build` package is missing: pip install -e '.[dev]'")
    session = tmp_path_factory.getbasetemp()
    out = (session if worker_id == "master" else session.parent) / "wheel"
    with install_lock(REPO / "build"):
        if not list(out.glob("directline_conformance-*.whl")):
            args = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out)]
            done = _run([*args, str(REPO)], BUILD_TIMEOUT, cwd=str(REPO))
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (built,) = out.glob("directline_conformance-*.whl")
    return built


def test_the_wheel_ships_the_package_and_its_data_and_nothing_else(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    missing = [name for name in MUST_SHIP if name not in names]
    assert not missing, missing
    strays = [
        n for n in names if n.split("/")[0] not in ("conformance",) and ".dist-info/" not in n
    ]
    assert not strays, strays
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "\nVersion: " in text and "Version: 0+unknown" not in text
    assert (
        "directline-conformance = conformance.cli:main"
        in zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith(".dist-info/entry_points.txt")))
        .decode()
    )


def test_the_installed_wheel_runs_the_smoke_selection(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    done = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], 120)
    assert done.returncode == 0, done.stderr
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    done = _run([*install, "--no-deps", "--no-index", str(wheel)], BUILD_TIMEOUT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], 60)
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    Path(site.stdout.strip(), "kit-dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIRECTLINE_", "PYTHON"))}
    where = _run(
        [str(python), "-c", "import conformance; print(conformance.__file__)"],
        60,
        env=env,
        cwd=str(tmp_path),
    )
    assert where.stdout.strip().startswith(str(venv)), where.stdout + where.stderr

    report = tmp_path / "report"
    command = [str(venv / "bin" / "directline-conformance"), "run", "-k", "smoke"]
    done = _run([*command, "--report-dir", str(report)], RUN_TIMEOUT, env=env, cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    verdicts = [
        r["verdict"] for r in json.loads((report / "report.json").read_text())["requirements"]
    ]
    assert verdicts.count("pass") >= 10, verdicts
    version = _run([str(venv / "bin" / "directline-conformance"), "--version"], 60, env=env)
    assert version.stdout.split()[-1] == wheel.name.split("-")[1], version.stdout


def _imported_top_level_modules(package: Path) -> set[str]:
    """The top-level modules the package's sources import (absolute imports only)."""
    import ast

    found: set[str] = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def test_every_third_party_import_is_a_declared_dependency() -> None:
    """A module the package imports but does not declare is there in the dev environment (some
    dev tool brought it) and missing from a user's: ``filelock`` was, and every distributed
    run against a target failed in an environment with the runtime dependencies alone."""
    import importlib.metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    # dependencies of declared ones that the package imports by name on purpose
    declared |= {"referencing"}  # jsonschema's, for its schema registry
    distributions = importlib.metadata.packages_distributions()
    third_party = sorted(
        module
        for module in _imported_top_level_modules(REPO / "conformance")
        if module not in sys.stdlib_module_names and module not in ("conformance", "__future__")
    )
    undeclared = {
        module: names
        for module in third_party
        if not declared.intersection(
            names := {canonicalize_name(d) for d in distributions.get(module, [module])}
        )
    }
    assert not undeclared, f"imported but not in [project] dependencies: {undeclared}"
