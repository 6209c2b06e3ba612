"""certify-proxy's parts, one at a time: the checks of what crossed the proxy, the recording as
the suite reads it, two reports combined, the two-sided report and its files, the context,
the profile written back, and the command's one-line refusals."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conformance.config.profile import builtin_profile_names, load_profile, parse_profile
from conformance.config.profile_toml import profile_toml
from conformance.errors import ConfigError
from conformance.proxy import checks
from conformance.proxy.context import CONTEXT_ENV, ProxyContext, load_context
from conformance.proxy.recording import Body, Frame, Recording, Request, credential_fingerprint
from conformance.reports.proxy_combine import combine
from conformance.reports.proxy_json import (
    Sides,
    build_proxy_report,
    latency_summary,
    validate_proxy_report,
    write_proxy_reports,
)


def request(
    method: str = "GET",
    path: str = "/conversations/c1/activities",
    *,
    t: float = 10.0,
    elapsed: float | None = 0.5,
    query: tuple[tuple[str, str], ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
    status: int | None = 200,
) -> Request:
    return Request(method, path, query, headers, Body.of(body), t, status=status, elapsed=elapsed)


def upstream(*args: Any, **kwargs: Any) -> Request:
    return request(*args, elapsed=None, **kwargs)


# --- checks ---------------------------------------------------------------------------------------
def test_a_repeated_post_and_a_missing_get_are_found() -> None:
    post = request("POST", t=1.0)
    get = request("GET", t=2.0)
    arrived = [upstream("POST", t=1.1), upstream("POST", t=1.3)]
    problems = checks.arrivals([post, get], arrived)
    assert len(problems) == 2
    assert "received it 2 time(s) (a POST repeated by the proxy)" in problems[0]
    assert "GET /conversations/c1/activities" in problems[1]
    assert checks.arrivals([post, get], [upstream("POST", t=1.1), upstream(t=2.1)]) == []
    retried = [upstream("POST", t=1.1), upstream(t=2.1), upstream(t=2.2)]
    assert checks.arrivals([post, get], retried) == []  # a GET retried is allowed


def test_a_request_the_client_never_sent_is_uninvited() -> None:
    mine = [request("POST", t=1.0)]
    assert checks.uninvited(mine, [upstream("POST", t=1.1)]) == []
    problems = checks.uninvited(mine, [upstream("POST", t=1.1), upstream("GET", t=1.2)])
    assert problems == [
        "GET /conversations/c1/activities reached the upstream (status 200), but the client "
        "sent no such request"
    ]


def test_pairs_follow_the_clock_so_an_invented_request_pairs_with_nothing() -> None:
    first = request(t=1.0, elapsed=0.1, query=(("watermark", "1"),))
    second = request(t=2.0, elapsed=0.1, query=(("watermark", "2"),))
    invented = upstream(t=1.9)  # before the second was sent
    arrived = [upstream(t=1.05, query=(("watermark", "1"),)), invented,
               upstream(t=2.05, query=(("watermark", "2"),))]  # fmt: skip
    pairs = checks.paired([first, second], arrived)
    assert [theirs.t for _, theirs in pairs] == [1.05, 2.05]
    assert checks.query_changes(pairs) == []
    assert checks.paired([second], [upstream(t=3.0)]) == []  # arrived after the answer


def test_a_changed_body_names_the_first_difference() -> None:
    sent = json.dumps({"type": "message", "from": {"id": "dl_user"}, "value": 1}).encode()
    same = json.dumps({"value": 1, "from": {"id": "dl_user"}, "type": "message"}).encode()
    changed = json.dumps({"type": "message", "from": {"id": "dl_proxy"}, "value": 1}).encode()
    mine = request("POST", t=1.0, body=sent)
    assert checks.body_changes([(mine, upstream("POST", t=1.1, body=same))]) == []
    problems = checks.body_changes([(mine, upstream("POST", t=1.1, body=changed))])
    assert len(problems) == 1 and "(first at $.from.id)" in problems[0]
    float_for_int = json.dumps({"type": "message", "from": {"id": "dl_user"}, "value": 1.0})
    assert checks.body_changes([(mine, upstream("POST", body=float_for_int.encode()))])
    binary = request("POST", body=b"\x00\x01")
    assert checks.body_changes([(binary, upstream("POST", body=b"\x00\x02"))])


def test_credentials_compare_by_fingerprint_or_by_acceptance() -> None:
    mine = request(headers=(("authorization", credential_fingerprint("Bearer token-a") or ""),))
    same = upstream(headers=(("authorization", credential_fingerprint("Bearer token-a") or ""),))
    other = upstream(headers=(("authorization", credential_fingerprint("Bearer secret") or ""),))
    assert checks.credential_changes([(mine, same)]) == []
    assert checks.credential_changes([(mine, other)])
    assert "token-a" not in checks.credential_changes([(mine, other)])[0]
    assert checks.credential_changes([(mine, other)], token_exchange=True) == []
    refused = upstream(status=403)
    assert checks.credential_changes([(mine, refused)], token_exchange=True)


def test_an_added_cookie_is_found_and_forwarding_headers_are_not() -> None:
    mine = request(headers=(("host", "proxy"), ("user-agent", "kit")))
    forwarded = upstream(
        headers=(("host", "upstream"), ("user-agent", "kit"), ("via", "1.1 p"),
                 ("x-forwarded-for", "127.0.0.1"), ("traceparent", "00-1-2-01"))
    )  # fmt: skip
    assert checks.added_headers([(mine, forwarded)]) == []
    cookie = upstream(headers=(("user-agent", "kit"), ("cookie", "sha256:1")))
    assert "(a credential: cookie)" in checks.added_headers([(mine, cookie)])[0]
    authorization = upstream(headers=(("authorization", "Bearer sha256:1"),))
    assert checks.added_headers([(mine, authorization)])
    assert checks.added_headers([(mine, authorization)], token_exchange=True) == []


def test_a_dropped_watermark_is_a_changed_query() -> None:
    mine = request(query=(("watermark", "3"),))
    problems = checks.query_changes([(mine, upstream())])
    assert problems == [
        "GET /conversations/c1/activities: the client sent the query watermark=3, the upstream "
        "received (none)"
    ]
    reordered = request(query=(("a", "1"), ("b", "2")))
    assert checks.query_changes([(reordered, upstream(query=(("b", "2"), ("a", "1"))))]) == []


def frames(*texts: str, start: float = 0.0, step: float = 0.1) -> list[Frame]:
    return [Frame(start + i * step, "down", text) for i, text in enumerate(texts)]


def test_frames_lost_reordered_or_added_are_found() -> None:
    sent = frames('{"n": 1}', "", '{"n": 2}', '{"n": 3}')
    assert checks.frame_order(frames('{"n":1}', '{"n": 2}', '{"n": 3}'), sent) == []
    swapped = checks.frame_order(frames('{"n": 2}', '{"n": 1}', '{"n": 3}'), sent)
    assert any("did not reach the client before the next" in p for p in swapped)
    assert any("repeats or reorders" in p for p in swapped)
    doubled = checks.frame_order(frames('{"n": 1}', '{"n": 1}', '{"n": 2}', '{"n": 3}'), sent)
    assert len(doubled) == 1 and "repeats" in doubled[0]
    lost = checks.frame_order(frames('{"n": 1}', '{"n": 2}'), sent, closed_at=10.0)
    assert len(lost) == 1 and "never reached the client" in lost[0]
    in_flight = checks.frame_order(frames('{"n": 1}', '{"n": 2}'), sent, closed_at=0.35)
    assert in_flight == []  # the last frame was sent just before the client stopped reading


def test_frames_compare_with_the_upstream_origin_rewritten() -> None:
    sent = frames('{"url": "http://up:1/x"}')
    received = frames('{"url": "http://proxy:2/x"}')
    origins = [("http://up:1", "http://proxy:2")]
    assert checks.frame_order(received, sent, origins=origins) == []
    assert checks.frame_order(received, sent)  # unrewritten, they differ


def test_frame_delays_and_their_median() -> None:
    sent = frames('{"n": 1}', '{"n": 2}', '{"n": 3}', start=0.0, step=1.0)
    prompt = frames('{"n": 1}', '{"n": 2}', '{"n": 3}', start=0.01, step=1.0)
    late = frames('{"n": 1}', '{"n": 2}', '{"n": 3}', start=2.0, step=1.0)
    assert [round(d, 2) for d in checks.frame_delays(prompt, sent)] == [0.01, 0.01, 0.01]
    assert checks.slow_frames(checks.frame_delays(prompt, sent)) is None
    slow = checks.slow_frames(checks.frame_delays(late, sent))
    assert slow is not None and slow.startswith("median delay 2000 ms over 3 frames")


def test_cors_headers_must_come_through_with_their_values() -> None:
    theirs = [("Access-Control-Allow-Origin", "*"), ("Access-Control-Max-Age", "600"), ("X", "1")]
    assert checks.cors_changes(theirs, [("access-control-allow-origin", "*"),
                                        ("access-control-max-age", "600")]) == []  # fmt: skip
    problems = checks.cors_changes(theirs, [("access-control-allow-origin", "https://a")])
    assert len(problems) == 2


def test_origins_count_ws_and_http_as_one() -> None:
    assert checks.origin("ws://Host:80/a") == checks.origin("http://host/b")
    assert checks.origin("wss://host/a") == ("https", "host", 443)
    assert checks.origin("ws://host:81/a") != checks.origin("http://host/a")


# --- the recording --------------------------------------------------------------------------------
def test_the_recording_the_server_writes_is_the_one_the_suite_reads(tmp_path: Path) -> None:
    """The record format and the fingerprint are a contract between the reference server and
    the suite (which must not import it): both sides agree."""
    import httpx

    from conformance.reference import EmbeddedServer, ServerConfig
    from conformance.reference.recording import fingerprint

    path = tmp_path / "recording.jsonl"
    secret = "recording-contract-secret"
    with EmbeddedServer(ServerConfig(secret=secret, recording_file=str(path))) as server:
        base = str(server.base_url)
        with httpx.Client(trust_env=False, timeout=10) as http:
            auth = {"Authorization": f"Bearer {secret}", "x-dl-conformance-case": "case-1"}
            started = http.post(base + "/conversations", headers=auth).json()
            http.get(base + f"/conversations/{started['conversationId']}/activities",
                     params={"watermark": "0"}, headers=auth)  # fmt: skip
    assert fingerprint("x") == checks_fingerprint("x")
    recording = Recording.read(path, base)
    mine = recording.of_conversations([started["conversationId"]], "case-1")
    assert [r.key for r in mine] == [
        ("POST", "/conversations"),
        ("GET", f"/conversations/{started['conversationId']}/activities"),
    ]
    assert mine[0].answered_conversation() == started["conversationId"]
    assert mine[1].query == (("watermark", "0"),)
    assert mine[1].header("authorization") == credential_fingerprint(f"Bearer {secret}")
    assert recording.of_conversations(["other"], "case-2") == []


def checks_fingerprint(value: str) -> str:
    from conformance.proxy.recording import fingerprint

    return fingerprint(value)


def test_a_line_still_being_written_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "recording.jsonl"
    good = {"kind": "request", "seq": 1, "t": 1.0, "method": "GET", "path": "/v3/directline/x",
            "query": [], "headers": [], "body": {"size": 0, "sha256": "", "text": ""}}  # fmt: skip
    path.write_text(json.dumps(good) + '\n{"kind": "resp', encoding="utf-8")
    recording = Recording.read(path, "http://h/v3/directline")
    assert [r.path for r in recording.requests] == ["/x"]
    assert Recording.read(tmp_path / "missing.jsonl", "http://h/").requests == []


# --- combining two runs ---------------------------------------------------------------------------
def row(rid: str, verdict: str, level: str = "MUST", **extra: Any) -> dict[str, Any]:
    area = rid.split("-")[1]
    return {"id": rid, "level": level, "area": area, "title": f"title of {rid}",
            "page": "p", "verdict": verdict, "reason": f"reason {verdict}", **extra}  # fmt: skip


def reports(pairs: dict[str, tuple[str, str]], **levels: str) -> tuple[dict, dict]:
    up = {"requirements": [row(r, u, levels.get(r, "MUST")) for r, (u, _) in pairs.items()]}
    px = {"requirements": [row(r, p, levels.get(r, "MUST")) for r, (_, p) in pairs.items()]}
    return up, px


def test_each_pair_of_verdicts_has_its_standing() -> None:
    up, px = reports(
        {
            "DL-A-001": ("pass", "pass"),
            "DL-A-002": ("pass", "fail"),
            "DL-A-003": ("fail", "fail"),
            "DL-A-004": ("expected-fail", "pass"),
            "DL-A-005": ("not-applicable", "not-applicable"),
            "DL-PROXY-001": ("not-applicable", "pass"),
            "DL-PROXY-002": ("not-applicable", "fail"),
        }
    )
    combined = combine(up, px)
    standings = {r.id: r.standing for r in combined.rows}
    assert standings == {
        "DL-A-001": "holds",
        "DL-A-002": "broken-by-proxy",
        "DL-A-003": "inherited",
        "DL-A-004": "fixed-by-proxy",
        "DL-A-005": "not-judged",
        "DL-PROXY-001": "holds",
        "DL-PROXY-002": "broken-by-proxy",
    }
    assert combined.exit_status == 1
    assert "DL-A-002, DL-PROXY-002" in combined.conclusion


def test_only_what_the_proxy_breaks_fails_the_certification() -> None:
    up, px = reports({"DL-A-001": ("fail", "fail"), "DL-A-002": ("pass", "pass")})
    assert combine(up, px).exit_status == 0  # inherited: the upstream's fault
    up, px = reports({"DL-A-001": ("pass", "fail")}, **{"DL-A-001": "SHOULD"})
    assert combine(up, px).exit_status == 1
    assert combine(up, px, fail_on="must").exit_status == 0  # a SHOULD, under --fail-on must
    up, px = reports({"DL-A-001": ("pass", "fail"), "DL-A-002": ("pass", "pass")},
                     **{"DL-A-001": "MAY"})  # fmt: skip
    assert combine(up, px).exit_status == 0
    up, px = reports({"DL-PROXY-003": ("not-applicable", "expected-fail")})  # listed: redacts
    listed = combine(up, px)
    assert [r.standing for r in listed.rows] == ["broken-by-proxy"] and listed.exit_status == 0
    assert "1 broken by it that fail no run" in listed.conclusion


def test_errors_and_stopped_runs_are_no_conclusion() -> None:
    up, px = reports({"DL-A-001": ("error", "pass"), "DL-A-002": ("pass", "pass")})
    combined = combine(up, px)
    assert combined.exit_status == 2 and "DL-A-001" in combined.conclusion
    up, px = reports({"DL-A-001": ("pass", "fail")})
    up["stopped"] = "deadline"
    assert combine(up, px).exit_status == 2
    assert "upstream run stopped early (deadline)" in combine(up, px).conclusion


# --- the two-sided report -------------------------------------------------------------------------
def two_sided_report() -> dict[str, Any]:
    up, px = reports(
        {"DL-A-001": ("pass", "fail"), "DL-A-002": ("fail", "fail"),
         "DL-PROXY-001": ("not-applicable", "pass")}
    )  # fmt: skip
    for report, url in ((up, "http://127.0.0.1:1/v3/directline"), (px, "http://p/v3/directline")):
        report.update(target={"url": url}, exit_status=1, conclusion="NOT conformant (exit 1)",
                      profile={"name": "reference", "source": "built-in:reference"})  # fmt: skip
    px["requirements"][0]["reason"] = "<script>alert(1)</script> & more"
    figures = [{"test": "t", "index": i, "ms": ms} for i, ms in enumerate([1.0, 3.0, 2.0])]
    return build_proxy_report(
        combine(up, px),
        Sides("http://user:pw@p/v3/directline?code=x", "http://127.0.0.1:1/v3/directline",
              True, True, up, px),
        started=0.0, finished=12.5, figures=figures, recording="upstream-recording.jsonl",
    )  # fmt: skip


def test_the_two_sided_report_matches_its_schema_and_hides_credentials(tmp_path: Path) -> None:
    report = two_sided_report()
    assert validate_proxy_report(report) == []
    assert report["proxy"]["url"] == "http://p/v3/directline?code=<redacted>"
    assert report["summary"]["broken-by-proxy"] == 1 and report["exit_status"] == 1
    assert report["latency"]["median_ms"] == 2.0 and report["latency"]["count"] == 3
    broken = dict(report, exit_status=7)
    assert validate_proxy_report(broken)
    paths = write_proxy_reports(tmp_path, report)
    assert [p.name for p in paths] == ["report.json", "report.md", "report.html", "junit.xml"]
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert not any(fetch in page for fetch in ("src=", "href=", "url(", "@import"))
    rows = re.findall(r'<tr class="req" id="([^"]+)" data-standing="([^"]+)">(.*?)</tr>', page)
    assert [(id_, standing) for id_, standing, _ in rows] == [
        ("DL-A-001", "broken-by-proxy"),  # worst standing first
        ("DL-A-002", "inherited"),
        ("DL-PROXY-001", "holds"),
    ]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[0][2])
    assert cells[3:5] == ["pass", "fail"]  # both columns: upstream, through the proxy
    assert '<span class="badge s-broken-by-proxy">broken-by-proxy</span>' in cells[5]
    assert "3 frames through the proxy: median 2.0 ms" in page
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| DL-A-001 | MUST | title of DL-A-001 | pass | fail | **broken-by-proxy** |" in markdown
    suite = ET.parse(tmp_path / "junit.xml").getroot()[0]
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")


def test_latency_summary_of_no_frames_is_none() -> None:
    assert latency_summary([]) is None
    summary = latency_summary([{"test": "t", "index": i, "ms": float(i)} for i in range(1, 21)])
    assert summary is not None and summary["p95_ms"] == 19.0 and summary["max_ms"] == 20.0


# --- context and profile --------------------------------------------------------------------------
def test_the_context_round_trips_and_a_bad_one_is_one_line(tmp_path: Path) -> None:
    path = ProxyContext("http://u/v3/directline/", str(tmp_path / "r"), None).write(tmp_path / "c")
    loaded = load_context({CONTEXT_ENV: str(path)})
    assert loaded == ProxyContext("http://u/v3/directline", str(tmp_path / "r"), None)
    assert load_context({}) is None
    (tmp_path / "bad").write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a readable proxy context file"):
        load_context({CONTEXT_ENV: str(tmp_path / "bad")})
    (tmp_path / "other").write_text('{"format": "x"}', encoding="utf-8")
    with pytest.raises(ConfigError, match="not a proxy context file"):
        load_context({CONTEXT_ENV: str(tmp_path / "other")})


@pytest.mark.parametrize("name", builtin_profile_names())
def test_a_profile_written_back_reads_as_the_same_profile(name: str) -> None:
    profile = load_profile(name)
    again = parse_profile(profile_toml(profile), source=profile.source)
    assert again == profile


def test_the_proxy_table_of_a_profile() -> None:
    profile = parse_profile("[proxy]\ntoken_exchange = true\n", source="mine.toml")
    assert profile.proxy.token_exchange and not profile.proxy.direct_urls
    assert parse_profile(profile_toml(profile), source="mine.toml") == profile
    with pytest.raises(ConfigError, match=r"\[proxy\]: unknown key 'direct'"):
        parse_profile("[proxy]\ndirect = true\n", source="mine.toml")


# --- the command's refusals -----------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "conformance.cli", "certify-proxy", *args],
        capture_output=True, text=True, timeout=120, env=environment, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ((), "certify-proxy needs --target"),
        (("--target", "ftp://p/v3/directline"), "must start with http"),
        (("--target", "http://127.0.0.1:9/v3/directline", "--recording", "r.jsonl"),
         "--recording names the recording of an --upstream"),
        (("--target", "http://127.0.0.1:9/v3/directline", "--upstream",
          "http://127.0.0.1:8/v3/directline", "--upstream-port", "5"),
         "--upstream-port and --upstream-behave are for the kit's own upstream"),
        (("--target", "http://127.0.0.1:9/v3/directline", "--upstream",
          "http://127.0.0.1:8/v3/directline", "--recording", "missing.jsonl"),
         "--recording missing.jsonl: no such file"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], said: str) -> None:
    result = cli(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert said in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("--target", "http://127.0.0.1:9/v3/directline", "--upstream-port", str(port))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_proxy_that_is_not_there_is_no_conclusion() -> None:
    result = cli("--target", "http://127.0.0.1:9/v3/directline", "--upstream-port", "0",
                 "-k", "smoke", "-q")  # fmt: skip
    assert result.returncode == 2
    assert "connection refused" in result.stdout
    assert "the run through the proxy wrote no report (exit 2)" in result.stderr


def test_plan_plans_both_runs_and_sends_nothing(tmp_path: Path) -> None:
    """--plan goes to both runs: the proxied one plans the PROXY tests too, and no proxy need
    be there (nothing listens on port 9)."""
    result = cli("--target", "http://127.0.0.1:9/v3/directline", "--upstream-port", "0",
                 "--plan", "--report-dir", str(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    plans = [line for line in result.stdout.splitlines() if line.startswith("  plan: ")]
    assert len(plans) == 2
    upstream_tests, proxy_tests = (int(line.split()[1]) for line in plans)
    assert proxy_tests - upstream_tests == 13  # the PROXY tests, through the proxy only
    assert result.stdout.count("nothing was sent (--plan)") == 3
    assert not (tmp_path / "report.json").exists()


def test_a_plain_run_has_no_proxy_to_judge(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTLINE_")}
    result = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "-k", "test_proxy", "-q",
         "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, env=environment, check=False,
    )  # fmt: skip
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    proxy_rules = [r for r in report["requirements"] if r["area"] == "PROXY"]
    assert len(proxy_rules) == 13
    assert {r["verdict"] for r in proxy_rules} == {"not-applicable"}
    assert "certify-proxy" in proxy_rules[0]["reason"]
    assert report["cost"]["planned"]["requests"] == 0  # planned nothing, sent nothing
    assert result.returncode == 2  # nothing was exercised
