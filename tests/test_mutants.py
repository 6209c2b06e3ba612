"""Every mutant is caught by exactly the requirements it breaks; the faithful server by none.

A conformance check is only worth something if it fails on a server that breaks its rule, and
only on such a server: each mutant must fail exactly its declared requirements, nothing more.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.reference.app import create_app
from tests.mutants.catalogue import MUTANTS
from tests.mutants.framework import (
    HYPOTHESIS_MODULES,
    Mutant,
    mutant_config,
    new_secret,
    run_suite,
    server_config,
    timing_requirements,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("broken", MUTANTS, ids=lambda m: m.name)
def test_mutant_fails_exactly_its_requirements(broken: Mutant, tmp_path: Path) -> None:
    secret = new_secret()
    run = run_suite(
        broken.build(mutant_config(broken, secret)),
        secret=secret,
        modules=broken.modules,
        workdir=tmp_path,
        end_of_conversation=broken.end_of_conversation,
        skip_timing=not broken.breaks & timing_requirements(),
        timings=broken.profile_timings,
    )
    failed = run.with_verdict("fail")
    assert failed == set(broken.breaks), (
        f"{broken.name} ({broken.doc}): expected exactly {sorted(broken.breaks)} to fail, "
        f"failed {sorted(failed)}\n{run.output[-4000:]}"
    )
    assert set(broken.tests) <= run.failed_tests, (
        f"{broken.name}: the right requirements failed, but not through "
        f"{sorted(set(broken.tests) - run.failed_tests)}\n{run.output[-4000:]}"
    )
    assert bool(run.preflight_line) == broken.preflight, (
        f"{broken.name}: the preflight {'stopped' if run.preflight_line else 'let through'} the "
        f"run, the mutant says it {'should' if broken.preflight else 'should not'}\n"
        f"{run.output[-4000:]}"
    )
    assert run.returncode == (2 if broken.preflight else 1)


def test_every_must_and_should_is_named_by_a_mutant() -> None:
    """The issue's bar: no MUST (nor SHOULD) without a broken server (or, for the PROXY rules,
    a broken proxy: tests/proxies) proving its check."""
    from conformance.catalog import load_catalog
    from tests.proxies.broken import BROKEN

    named = {rid for m in MUTANTS for rid in m.breaks} | {rid for p in BROKEN for rid in p.breaks}
    catalog = load_catalog()
    unproven = [r.id for r in catalog if r.level in ("MUST", "SHOULD") and r.id not in named]
    assert not unproven, f"no mutant breaks {unproven}"


@pytest.mark.parametrize("module", sorted(HYPOTHESIS_MODULES))
def test_every_hypothesis_property_is_proven_by_a_mutant(module: str) -> None:
    """Each property of the Hypothesis modules is named (``tests=``) by a mutant of that module,
    and the per-mutant run checks that the named test is among the failing ones."""
    import importlib

    suite = importlib.import_module(f"conformance.suite.{module}")
    properties = {name for name in vars(suite) if name.startswith("test_")}
    proven = {t for m in MUTANTS if module in m.modules for t in m.tests}
    assert properties, f"{module} has no tests"
    assert not properties - proven, f"no mutant proves {sorted(properties - proven)}"


@pytest.mark.parametrize("reading", ["refuse", "forward"])
def test_faithful_reference_fails_nothing(reading: str, tmp_path: Path) -> None:
    secret = new_secret()
    modules = sorted({module for m in MUTANTS for module in m.modules})
    run = run_suite(
        create_app(server_config(secret, reading)),
        secret=secret,
        modules=tuple(modules),
        workdir=tmp_path,
        end_of_conversation=reading,
    )
    bad = run.with_verdict("fail", "error", "unexpected-pass")
    assert not bad, f"the faithful reference got {sorted(bad)}:\n{run.output[-4000:]}"
    assert run.returncode == 0
    # the plan audit: no test sends more than its cost marker declares
    assert not run.overspent, f"tests over their declared cost: {run.overspent}"


def test_faithful_reference_with_real_token_lifetime_passes_the_lifetime_rule(
    tmp_path: Path,
) -> None:
    """DL-TOKEN-013 is not-applicable at compressed timings; at the docs' 1800 s it must pass."""
    secret = new_secret()
    run = run_suite(
        create_app(server_config(secret, token_lifetime=1800)),
        secret=secret,
        modules=("test_authentication",),
        workdir=tmp_path,
        skip_timing=True,
        timings={"token_lifetime": None},
    )
    assert run.verdicts["DL-TOKEN-013"] == "pass", run.output[-3000:]
    assert not run.with_verdict("fail", "error"), run.output[-3000:]
