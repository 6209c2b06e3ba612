"""The directline-conformance command as a user runs it: exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def cli(*args: str, secret: str | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTLINE_")}
    if secret:
        environment["DIRECTLINE_SECRET"] = secret
    return subprocess.run(
        [sys.executable, "-m", "conformance.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=False,
    )


def test_requirements_lists_the_whole_catalog_with_coverage() -> None:
    result = cli("requirements", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 152
    start = next(r for r in rows if r["id"] == "DL-START-001")
    assert start["tests"] == [
        "conformance/suite/test_start_conversation.py::test_new_conversation_answers_201"
    ]
    assert "requirements covered by a test" in result.stderr


def test_unreachable_target_exits_2_with_one_clear_line() -> None:
    result = cli(
        "run", "--target", "http://127.0.0.1:9/v3/directline", "-k", "start", secret="s3cr3t-xyz"
    )
    assert result.returncode == 2
    assert "connection refused" in result.stdout
    assert "check that the target is running at http://127.0.0.1:9/v3/directline" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "s3cr3t-xyz" not in result.stdout + result.stderr


def test_bad_target_url_exits_2() -> None:
    result = cli("run", "--target", "ftp://example/v3/directline", secret="s3cr3t-xyz")
    assert result.returncode == 2
    assert "must start with http" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("args", [("run", "--bogus"), ("frobnicate",), ("run", "--fail-on", "may")])
def test_bad_arguments_exit_2(args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert "Traceback" not in result.stderr


def test_profiles_lists_the_builtins() -> None:
    result = cli("profiles")
    assert result.returncode == 0
    assert "reference" in result.stdout and "spec" in result.stdout


def test_serve_refuses_a_public_address() -> None:
    result = cli("serve", "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 2
    assert "not a loopback address" in result.stderr


def test_bad_profile_is_one_line_even_with_xdist(tmp_path) -> None:  # type: ignore[no-untyped-def]
    profile = tmp_path / "bad.toml"
    profile.write_text("[timings]\nstream_connect_window = 'soon'\n")
    result = cli("run", "-n", "2", "--profile", str(profile))
    assert result.returncode == 2
    assert "timings.stream_connect_window must be a number" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_every_uncovered_requirement_says_why_and_no_reason_is_stale() -> None:
    """A rule without a test gives the catalog's ``untested`` reason; a rule with one has none."""
    from conformance.catalog import load_catalog

    untested = {r.id: r.untested for r in load_catalog() if r.untested}
    rows = json.loads(cli("requirements", "--format", "json").stdout)
    uncovered = {r["id"] for r in rows if not r["tests"]}
    assert uncovered == set(untested)
    for row in rows:
        if not row["tests"]:
            assert row["untested_because"] == untested[row["id"]]
    levels = {r["id"]: r["level"] for r in rows}
    assert all(levels[rid] == "MAY" for rid in untested)


def test_smoke_runs_its_small_selection_in_one_process() -> None:
    """`run -k smoke` picks the marked tests, one per spec page, and skips xdist for them;
    other selections get workers for their timing tests and the machine's cores."""
    import argparse

    from conformance.cli import collected_selection, default_workers, suite_shape, workers_for

    assert default_workers(argparse.Namespace(k=None)) == str(workers_for(*suite_shape()))
    assert default_workers(argparse.Namespace(k="smoke")) == "0"
    not_smoke = collected_selection("not smoke")
    assert not_smoke is not None
    assert default_workers(argparse.Namespace(k="not smoke")) == str(workers_for(*not_smoke))
    result = cli("run", "-q", "-k", "smoke")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert " passed, " in result.stdout and " deselected" in result.stdout
    assert "bringing up nodes" not in result.stdout


def test_default_workers_follow_the_clocks_and_the_cores() -> None:
    """One worker per clock (the timing tests of one timing wait together, and the clocks'
    waits overlap), one per core for the rest, never more than the tests; the suite's shape
    read from its source is what pytest collects."""
    from conformance.cli import MAX_WORKERS, collected_selection, suite_shape, workers_for

    tests, clocks = suite_shape()
    assert (tests, clocks) == collected_selection("slow or not slow")
    assert clocks == 2  # the token's lifetime, the stream URL's connect window
    assert collected_selection("test_expired_token_answers_403_token_expired") == (1, 1)
    assert workers_for(tests, clocks, cores=2) == clocks + 2
    assert workers_for(tests, clocks, cores=1) == clocks + 1
    assert workers_for(3, 1, cores=16) == 3
    assert workers_for(tests, clocks, cores=1000) == MAX_WORKERS
    assert workers_for(0, 0, cores=4) == 1


def test_run_passes_shrink_to_the_plugin() -> None:
    """`run --shrink no` becomes the plugin's --dl-shrink no; without it nothing is passed."""
    from conformance.cli import build_parser, pytest_args

    parser = build_parser()
    chosen = pytest_args(parser.parse_args(["run", "--shrink", "no"]), [])
    assert chosen[chosen.index("--dl-shrink") + 1] == "no"
    assert "--dl-shrink" not in pytest_args(parser.parse_args(["run"]), [])


# -- the run command's flags are the settings table ------------------------------------------
def test_run_help_lists_every_setting() -> None:
    """Every setting is reachable from ``run``: by its flag, and by its environment variable
    where it has one. The secret alone has no flag (it would show in the process list): it is
    read from the variable ``--secret-env`` names."""
    from conformance.config.settings import SETTINGS

    result = cli("run", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert [item.name for item in SETTINGS if item.flag is None] == ["secret"]
    assert "--secret-env" in text
    for item in SETTINGS:
        if item.flag is not None:
            assert f"{item.flag} " in text, item.name
        if item.flag is not None and item.env:
            assert f"[env {item.env}]" in text, item.name
