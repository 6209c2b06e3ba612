"""Our proxies certified from both sides, as a user runs ``certify-proxy``: the faithful one
keeps every requirement (exit 0); each broken one is found breaking exactly the requirements it
declares (exit 1); and the same holds in front of ``serve --behave live``.

A broken proxy runs test_proxy plus the suite modules its breakage reaches (tests/proxies/
broken.py); the faithful one runs the whole suite on both sides.
"""

from __future__ import annotations

import contextlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from conformance.catalog import load_catalog
from conformance.config.profile import (
    Limits,
    ProxyBehaviour,
    companion_expectations,
    load_profile,
)
from conformance.config.profile_toml import profile_toml
from conformance.config.target import COMPRESSED_TIMINGS
from conformance.reports.json import validate_report
from conformance.reports.proxy_json import validate_proxy_report
from tests.external import serve_process
from tests.proxies.broken import BROKEN, BrokenProxy, LeavesStreamUrl, SubstitutesTheSecret
from tests.proxies.faithful import Proxy
from tests.proxies.harness import certify

pytestmark = pytest.mark.integration

PROXY_RULES = sorted(r.id for r in load_catalog() if r.area == "PROXY")
#: The stand-in's timings: the embedded server's compressed ones, but the live service's hour-long
#: tokens (the live profile waits out no token, and a shared lane must not see its token expire
#: on a busy machine).
LIVE_TIMINGS = {**COMPRESSED_TIMINGS, "token_lifetime": 3600.0}


def test_every_proxy_rule_is_broken_by_one_of_our_proxies() -> None:
    named = {rid for proxy in BROKEN for rid in proxy.breaks}
    levels = {r.id: r.level for r in load_catalog()}
    assert [rid for rid in PROXY_RULES if levels[rid] != "MAY" and rid not in named] == []


@pytest.mark.parametrize("proxy", BROKEN, ids=lambda p: p.name)
def test_a_broken_proxy_breaks_exactly_its_requirements(proxy: BrokenProxy, tmp_path: Path) -> None:
    run = certify(proxy.build, tmp_path, modules=proxy.modules)
    assert run.report is not None, run.output[-4000:]
    broken = run.standing("broken-by-proxy")
    assert broken == set(proxy.breaks), (
        f"{proxy.name} ({proxy.doc}): expected exactly {sorted(proxy.breaks)} broken by the "
        f"proxy, found {sorted(broken)}\n{run.output[-4000:]}"
    )
    assert not run.undecided(), f"errors left {sorted(run.undecided())} unjudged"
    assert run.code == 1
    assert run.report["conclusion"].startswith("the proxy BREAKS")


def test_the_faithful_proxy_keeps_every_requirement(tmp_path: Path) -> None:
    """The whole suite on both sides: nothing broken, inherited or fixed, every PROXY rule
    held, the four reports written and the recording kept without a credential."""
    secret = "faithful-proxy-secret-4711"
    run = certify(Proxy, tmp_path, secret=secret)
    assert run.report is not None, run.output[-4000:]
    rows = run.rows()
    surprising = {
        rid: (row["upstream"], row["proxy"], row["standing"], row["reason"][:300])
        for rid, row in rows.items()
        if row["standing"] in ("broken-by-proxy", "inherited", "fixed-by-proxy")
    }
    assert not surprising, f"{surprising}\n{run.output[-3000:]}"
    assert not run.undecided(), run.output[-3000:]
    assert {rid: rows[rid]["standing"] for rid in PROXY_RULES} == dict.fromkeys(
        PROXY_RULES, "holds"
    )
    assert run.code == 0, run.output[-3000:]
    held_on_both = [r for r in rows.values() if r["area"] != "PROXY" and r["standing"] == "holds"]
    assert len(held_on_both) >= 120  # the whole catalog ran, not a corner of it
    # the files
    assert validate_proxy_report(run.report) == []
    for side in ("upstream", "proxy"):
        side_report = json.loads((run.report_dir / side / "report.json").read_text("utf-8"))
        assert validate_report(side_report) == []
    assert run.report["latency"]["count"] >= 3 and run.report["latency"]["median_ms"] < 1000
    suite = ET.parse(run.report_dir / "junit.xml").getroot()[0]
    assert (suite.get("failures"), suite.get("errors")) == ("0", "0")
    assert "holds" in (run.report_dir / "report.md").read_text(encoding="utf-8")
    recording = (run.report_dir / "upstream-recording.jsonl").read_text(encoding="utf-8")
    assert recording.count("\n") > 100 and secret not in recording
    assert secret not in run.output


@pytest.mark.parametrize(
    ("build", "declared", "judged"),
    [
        (SubstitutesTheSecret, "token_exchange", {"DL-PROXY-004": "holds"}),
        (LeavesStreamUrl, "direct_urls", {"DL-PROXY-009": "not-judged"}),
    ],
    ids=["token_exchange", "direct_urls"],
)
def test_a_proxy_declaring_its_design_is_judged_by_it(
    build: type[Proxy], declared: str, judged: dict[str, str], tmp_path: Path
) -> None:
    """The ``[proxy]`` table of the profile: a proxy that sends its own credential upstream, or
    lets clients reach the service directly for the stream, breaks nothing it declares."""
    mine = replace(load_profile("reference"), proxy=ProxyBehaviour(**{declared: True}))
    profile = tmp_path / "my-proxy.toml"
    profile.write_text(profile_toml(mine), encoding="utf-8")
    assert f"{declared} = true" in profile.read_text(encoding="utf-8")
    run = certify(build, tmp_path, modules=(), args=["--profile", str(profile)])
    assert run.report is not None, run.output[-4000:]
    assert run.standing("broken-by-proxy") == set(), run.output[-4000:]
    rows = run.rows()
    assert {rid: rows[rid]["standing"] for rid in judged} == judged
    assert run.code == 0, run.output[-3000:]


@contextlib.contextmanager
def live_stand_in(folder: Path, secret: str) -> Iterator[tuple[str, Path]]:
    """``serve --behave live --record FILE`` at LIVE_TIMINGS, in its own process group."""
    recording = folder / "live-recording.jsonl"
    with serve_process(
        ["--behave", "live", "--secret", secret, "--record", str(recording),
         "--stream-window", str(LIVE_TIMINGS["stream_connect_window"]),
         "--token-lifetime", str(int(LIVE_TIMINGS["token_lifetime"])),
         "--bot-timeout", str(LIVE_TIMINGS["bot_timeout"])],
        writes=recording,
    ) as target:  # fmt: skip
        yield target, recording


#: Suite modules run through a proxy in front of the live stand-in (besides test_proxy).
LIVE_MODULES = ("test_start_conversation", "test_websocket_stream", "test_receive_polling",
                "test_upload", "test_browsers")  # fmt: skip


def live_profile(folder: Path) -> Path:
    """The shipped live profile at the stand-in's compressed timings, without the live limits
    (nothing here is shared, and the pace would make the test take minutes)."""
    profile = load_profile("live").with_timings(**LIVE_TIMINGS)
    path = folder / "live-here.toml"
    path.write_text(profile_toml(_without_limits(profile)), encoding="utf-8")
    return path


def _without_limits(profile):  # type: ignore[no-untyped-def]
    return replace(profile, limits=Limits(), name="live")


@pytest.mark.parametrize(
    ("build", "broken"),
    [(Proxy, set()), (LeavesStreamUrl, {"DL-PROXY-009"})],
    ids=["faithful", "LeavesStreamUrl"],
)
def test_in_front_of_the_live_stand_in(
    build: type[Proxy], broken: set[str], tmp_path: Path
) -> None:
    """The same two-sided run with someone else's upstream (``--upstream``) that was started
    with ``serve --behave live --record``: its recording names what reached it."""
    secret = "live-proxy-secret-0815"
    expectations = companion_expectations(load_profile("live"))
    with live_stand_in(tmp_path, secret) as (upstream, recording):
        run = certify(
            build, tmp_path, modules=LIVE_MODULES, upstream=upstream, recording=recording,
            secret=secret,
            args=["--profile", str(live_profile(tmp_path)), "--expect", str(expectations),
                  "--fuzz", "live"],
        )  # fmt: skip
    assert run.report is not None, run.output[-4000:]
    assert run.report["upstream"] == {"url": upstream, "kit": False, "recorded": True}
    assert run.standing("broken-by-proxy") == broken, run.output[-4000:]
    assert not run.undecided(), run.output[-3000:]
    rows = run.rows()
    judged = {rid for rid in PROXY_RULES if rows[rid]["standing"] != "not-judged"}
    assert judged == set(PROXY_RULES), {rid: rows[rid]["reason"] for rid in PROXY_RULES}
    assert run.code == (1 if broken else 0), run.output[-3000:]
