"""report.json -> report.html: one self-contained page (inline CSS and a little inline JS, no
external assets, fonts or network) that an emulator author opens to see every requirement and,
for each failure, the evidence: expected, observed, the exchanges and a curl reproduction.

Pure function over the redacted report dict; every piece of report text goes through
``html.escape``. Failures are ``<details>`` elements, so they expand without JavaScript; the
script only filters and sorts the table, and opens the failure named in the URL fragment
(``report.html#DL-START-001``). Rows come worst verdict first, and the first failing
requirement is open by default.
"""

from __future__ import annotations

import html
from string import Template
from typing import Any

from conformance.catalog import Level
from conformance.reports.markdown import display_reason, group_by_page, must_act
from conformance.verdicts import Verdict

__all__ = ["render_html"]

#: Verdicts whose row carries the evidence of its tests.
_WITH_EVIDENCE = frozenset(
    {Verdict.FAIL, Verdict.UNEXPECTED_PASS, Verdict.ERROR, Verdict.EXPECTED_FAIL}
)
#: Where a level of no known name sorts: last.
_UNKNOWN_RANK = 9

_CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#f6f8fa;
  --fail:#cf222e; --pass:#1a7f37; --error:#9a6700; --xfail:#8250df; --na:#6e7781; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  margin: 0; padding: 24px 32px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
code, pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.conclusion { display: inline-block; padding: 6px 12px; border-radius: 6px; font-weight: 600;
  margin: 8px 0 12px; color: #fff; }
.exit-0 { background: var(--pass); } .exit-1 { background: var(--fail); }
.exit-2 { background: var(--error); }
.run { color: var(--muted); margin: 0; padding: 0; list-style: none; }
.run li { margin: 2px 0; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; min-width: 110px;
  cursor: pointer; background: #fff; }
.card b { display: block; font-size: 20px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: var(--bg); position: sticky; top: 0; }
table.matrix th { cursor: pointer; user-select: none; white-space: nowrap; }
table.matrix th[data-dir="asc"]::after { content: " \\25B2"; }
table.matrix th[data-dir="desc"]::after { content: " \\25BC"; }
table.counts { width: auto; margin-bottom: 8px; }
table.counts td, table.counts th { text-align: right; } table.counts td:first-child,
table.counts th:first-child { text-align: left; }
td.id { white-space: nowrap; font-family: ui-monospace, Menlo, Consolas, monospace; }
td.reason { color: var(--muted); max-width: 520px; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff;
  font-size: 12px; font-weight: 600; white-space: nowrap; }
.v-pass { background: var(--pass); } .v-fail, .v-unexpected-pass { background: var(--fail); }
.v-error { background: var(--error); } .v-expected-fail { background: var(--xfail); }
.v-not-applicable, .v-not-tested { background: var(--na); }
tr.evidence td { background: #fff8f8; border-bottom: 2px solid var(--line); }
tr.evidence.v-expected-fail td { background: #fbf8ff; }
details summary { cursor: pointer; color: var(--muted); }
details[open] summary { margin-bottom: 6px; }
pre { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 10px;
  margin: 4px 0 10px; white-space: pre-wrap; overflow-wrap: anywhere; max-height: 640px;
  overflow: auto; }
pre .exp { color: var(--pass); font-weight: 600; }
pre .obs { color: var(--fail); font-weight: 600; }
pre .head { font-weight: 700; } pre .repro { color: #0550ae; }
.filters { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; margin: 12px 0;
  padding: 8px 12px; background: var(--bg); border: 1px solid var(--line); border-radius: 6px; }
.filters input[type=search] { width: 280px; padding: 4px 8px; }
.shown { color: var(--muted); margin-left: auto; }
.legend { color: var(--muted); font-size: 12px; margin-top: 24px; }
"""

# no "$" in the script: the page is a string.Template
_JS = """
(function () {
  var table = document.getElementById("matrix");
  var groups = Array.prototype.slice.call(table.tBodies);
  var text = document.getElementById("f-text"), level = document.getElementById("f-level");
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[name=verdict]"));
  var shown = document.getElementById("shown");
  function apply() {
    var want = text.value.toLowerCase(), lv = level.value, n = 0;
    var verdicts = boxes.filter(function (b) { return b.checked; })
      .map(function (b) { return b.value; });
    groups.forEach(function (g) {
      var ok = verdicts.indexOf(g.dataset.verdict) >= 0 && (!lv || g.dataset.level === lv)
        && (!want || g.textContent.toLowerCase().indexOf(want) >= 0);
      g.hidden = !ok; if (ok) { n += 1; }
    });
    shown.textContent = n + " of " + groups.length + " requirements shown";
  }
  [text, level].concat(boxes).forEach(function (el) { el.addEventListener("input", apply); });
  Array.prototype.forEach.call(document.querySelectorAll(".card"), function (card) {
    card.addEventListener("click", function () {
      boxes.forEach(function (b) { b.checked = b.value === card.dataset.verdict; }); apply();
    });
  });
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
    th.addEventListener("click", function () {
      var dir = th.dataset.dir === "asc" ? "desc" : "asc";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) {
        delete c.dataset.dir;
      });
      th.dataset.dir = dir;
      groups.sort(function (a, b) {
        var x = a.rows[0].cells[col].dataset.key || a.rows[0].cells[col].textContent;
        var y = b.rows[0].cells[col].dataset.key || b.rows[0].cells[col].textContent;
        return (x < y ? -1 : x > y ? 1 : 0) * (dir === "asc" ? 1 : -1);
      });
      groups.forEach(function (g) { table.appendChild(g); });
    });
  });
  function openFragment() {
    var id = decodeURIComponent(location.hash.slice(1)), g = id && document.getElementById(id);
    if (!g) { return; }
    Array.prototype.forEach.call(g.querySelectorAll("details"), function (d) { d.open = true; });
    g.hidden = false; g.scrollIntoView();
  }
  window.addEventListener("hashchange", openFragment);
  apply(); openFragment();
})();
"""

_PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$css</style>
</head>
<body>
<h1>$title</h1>
<div class="conclusion exit-$exit">$conclusion</div>
<ul class="run">
$run
</ul>
<h2>Summary</h2>
<div class="cards">
$cards
</div>
$counts
<h2>Requirements</h2>
<div class="filters">
<label>text <input type="search" id="f-text" placeholder="ID, title, reason, evidence"></label>
<label>level <select id="f-level"><option value="">any</option>$level_options</select></label>
<span>$verdict_boxes</span>
<span class="shown" id="shown"></span>
</div>
<table class="matrix" id="matrix">
<thead><tr><th>ID</th><th>level</th><th>spec page</th><th>title</th><th>verdict</th>
<th>reason</th></tr></thead>
$rows
</table>
<p class="legend">$legend</p>
<script>$js</script>
</body>
</html>
"""
)

_LEGEND = (
    "pass: every test of the rule passed. fail: a test showed the target breaking it. "
    "error: the harness could not judge (timeout, failed precondition); never a pass. "
    "expected-fail: failed, and listed in the expectations file. unexpected-pass: listed as "
    "expected to fail, but passed. not-applicable: the profile lacks a feature the rule needs. "
    "not-tested: no test ran for it. MAY rules, and rules the expectations file lists as "
    "informational, never fail a run."
)


def render_html(report: dict[str, Any]) -> str:
    """The report page as one HTML document."""
    e = html.escape
    tests = {t["nodeid"]: t for t in report["tests"]}
    totals: dict[str, int] = {}
    for counts in report["summary"].values():
        for verdict, n in counts.items():
            totals[verdict] = totals.get(verdict, 0) + n
    present = [v.value for v in Verdict if totals.get(v.value)]
    # worst verdicts first, then spec page order: the failures are what the reader came for
    ordered = sorted(
        ((page, r) for page, rs in group_by_page(report["requirements"]).items() for r in rs),
        key=lambda pr: (not must_act(pr[1]), _rank(pr[1]["verdict"])),
    )
    first_failure = next((r["id"] for _, r in ordered if must_act(r)), None)
    rows = [_row(r, page, tests, opened=r["id"] == first_failure) for page, r in ordered]
    return _PAGE.substitute(
        title=e("Direct Line 3.0 conformance report"),
        css=_CSS,
        exit=e(str(report["exit_status"])),
        conclusion=e(report["conclusion"]),
        run="\n".join(f"<li>{e(line.strip())}</li>" for line in _run_lines(report)),
        cards="\n".join(
            f'<div class="card" data-verdict="{e(v)}" title="show only {e(v)}">'
            f'<b>{totals[v]}</b><span class="badge v-{e(v)}">{e(v)}</span></div>'
            for v in present
        ),
        counts=_counts_table(report["summary"], present),
        level_options="".join(
            f'<option value="{lv}">{lv}</option>' for lv in Level if lv.value in report["summary"]
        ),
        verdict_boxes=" ".join(
            f'<label><input type="checkbox" name="verdict" value="{e(v)}" checked> {e(v)}</label>'
            for v in present
        ),
        rows="\n".join(rows),
        legend=e(_LEGEND),
        js=_JS,
    )


def _rank(verdict: str) -> int:
    return Verdict(verdict).rank


def _level_rank(level: str) -> int:
    return Level(level).rank if level in tuple(Level) else _UNKNOWN_RANK


def _run_lines(report: dict[str, Any]) -> list[str]:
    """The run header: the lines the terminal printed, plus times and versions."""
    lines = list(report.get("run") or [f"target {report['target']['url']}"])
    lines.append(
        f"started {report['started']}, finished {report['finished']} "
        f"({float(report.get('duration', 0)):.1f} s); kit {report['kit_version']}, "
        f"Python {report['python']}"
    )
    return lines


def _counts_table(summary: dict[str, dict[str, int]], present: list[str]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(v)}</th>" for v in present)
    body = "".join(
        f"<tr><td>{lv}</td>"
        + "".join(f"<td>{summary[lv].get(v, 0)}</td>" for v in present)
        + f"<td>{sum(summary[lv].values())}</td></tr>"
        for lv in (level.value for level in Level)
        if lv in summary
    )
    return f'<table class="counts"><tr><th>level</th>{head}<th>total</th></tr>{body}</table>'


def _row(r: dict[str, Any], page: str, tests: dict[str, Any], *, opened: bool) -> str:
    """One requirement: a <tbody> (sorted and filtered as a unit), its evidence row if any."""
    e = html.escape
    verdict = r["verdict"]
    reason = display_reason(r, tests)
    main = (
        f'<tr><td class="id" data-key="{e(r["id"])}"><a href="#{e(r["id"])}">{e(r["id"])}</a></td>'
        f'<td data-key="{_level_rank(r["level"])}">'
        f"{e(r['level'])}</td>"
        f"<td>{e(page)}<br><small>{e(r.get('section', ''))}</small></td>"
        f"<td>{e(r['title'])}</td>"
        f'<td data-key="{_rank(verdict)}">'
        f'<span class="badge v-{e(verdict)}">{e(verdict)}</span></td>'
        f'<td class="reason">{e(reason)}</td></tr>'
    )
    evidence = ""
    if Verdict(verdict) in _WITH_EVIDENCE:
        own = [tests[n] for n in r["tests"] if n in tests]
        shown = [t for t in own if t["outcome"] in ("failed", "error")]
        if shown:
            blocks = "".join(
                f"<div><code>{e(t['nodeid'])}</code> ({e(t['outcome'])}, "
                f"{float(t['duration']):.2f} s)<pre>{_highlight(t.get('evidence') or t['message'])}"
                "</pre></div>"
                for t in shown
            )
            evidence = (
                f'<tr class="evidence v-{e(verdict)}"><td colspan="6">'
                f"<details{' open' if opened else ''}><summary>evidence of {e(r['id'])}: "
                f"{len(shown)} test(s): expected, observed, exchanges, reproduction</summary>"
                f"{blocks}</details></td></tr>"
            )
    return (
        f'<tbody id="{e(r["id"])}" data-verdict="{e(verdict)}" data-level="{e(r["level"])}">'
        f"{main}{evidence}</tbody>"
    )


def _highlight(text: str) -> str:
    """Escaped failure text with its key lines marked (expected, observed, the reproduction)."""
    out = []
    for line in text.splitlines():
        escaped = html.escape(line)
        stripped = line.lstrip()
        if stripped.startswith("expected:"):
            escaped = f'<span class="exp">{escaped}</span>'
        elif stripped.startswith("observed:"):
            escaped = f'<span class="obs">{escaped}</span>'
        elif stripped.startswith(("curl ", "reproduce", "websocat ", "python ")):
            escaped = f'<span class="repro">{escaped}</span>'
        elif line and not line[0].isspace() and line.startswith("DL-"):
            escaped = f'<span class="head">{escaped}</span>'
        out.append(escaped)
    return "\n".join(out)
