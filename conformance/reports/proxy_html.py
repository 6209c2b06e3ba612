"""Two-sided report.json -> report.html: one self-contained page (inline CSS and a few lines of
inline JS, nothing fetched) with the counts per standing, the frame delays, and every
requirement with its verdict upstream and through the proxy, worst standing first. The script
only filters the table (by standing and by text); the page reads fine without it.

Pure function over the redacted report dict; every piece of report text goes through
``html.escape``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from conformance.reports.proxy_combine import STANDINGS
from conformance.reports.proxy_markdown import STANDING_TEXT

__all__ = ["render_proxy_html"]

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1f2328; margin: 0; padding: 24px 32px; }
h1 { font-size: 22px; margin: 0 0 6px; } h2 { font-size: 16px; margin: 22px 0 8px; }
.conclusion { display: inline-block; padding: 6px 12px; border-radius: 6px; color: #fff;
  font-weight: 600; margin: 6px 0 10px; }
.exit-0 { background: #1a7f37; } .exit-1 { background: #cf222e; } .exit-2 { background: #9a6700; }
ul.run { list-style: none; padding: 0; margin: 0; color: #59636e; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #d1d9e0;
  vertical-align: top; }
th { background: #f6f8fa; position: sticky; top: 0; }
td.id { font-family: ui-monospace, Menlo, Consolas, monospace; white-space: nowrap; }
td.reason { color: #59636e; overflow-wrap: anywhere; max-width: 560px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff;
  font-size: 12px; font-weight: 600; white-space: nowrap; }
.s-broken-by-proxy { background: #cf222e; } .s-not-judged { background: #6e7781; }
.s-inherited { background: #8250df; } .s-fixed-by-proxy { background: #0969da; }
.s-holds { background: #1a7f37; }
.filters { display: flex; gap: 12px; align-items: center; margin: 12px 0; padding: 8px 12px;
  background: #f6f8fa; border: 1px solid #d1d9e0; border-radius: 6px; flex-wrap: wrap; }
table.counts { width: auto; } table.counts td:nth-child(2) { text-align: right; }
"""

_SCRIPT = """
(function () {
  var boxes = document.querySelectorAll('input[data-standing]');
  var search = document.getElementById('search');
  function apply() {
    var shown = {}; boxes.forEach(function (b) { shown[b.dataset.standing] = b.checked; });
    var text = search.value.toLowerCase();
    document.querySelectorAll('tr.req').forEach(function (row) {
      var ok = shown[row.dataset.standing] && row.textContent.toLowerCase().indexOf(text) >= 0;
      row.style.display = ok ? '' : 'none';
    });
  }
  boxes.forEach(function (b) { b.addEventListener('change', apply); });
  search.addEventListener('input', apply);
})();
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def render_proxy_html(report: Mapping[str, Any]) -> str:
    """The page as text."""
    upstream = report["upstream"]
    counts = report["summary"]
    rows = sorted(
        report["requirements"],
        key=lambda r: (STANDINGS.index(r["standing"]), r["id"]),
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Direct Line 3.0 proxy certification</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Direct Line 3.0 proxy certification</h1>",
        f'<div class="conclusion exit-{_e(report["exit_status"])}">'
        f"{_e(report['conclusion'])}</div>",
        '<ul class="run">',
        f"<li>proxy: <code>{_e(report['proxy']['url'])}</code></li>",
        f"<li>upstream: <code>{_e(upstream['url'])}</code> ("
        + ("the kit's recording upstream" if upstream["kit"] else "the given upstream")
        + ("; recorded" if upstream["recorded"] else "; not recorded")
        + ")</li>",
        f"<li>profile {_e(report['profile'].get('name', '?'))} "
        f"({_e(report['profile'].get('source', '?'))}); fail on {_e(report['fail_on'].upper())}"
        "</li>",
        f"<li>upstream run: {_e(report['runs']['upstream']['conclusion'])} "
        f"(<code>{_e(report['runs']['upstream']['report'])}</code>)</li>",
        f"<li>run through the proxy: {_e(report['runs']['proxy']['conclusion'])} "
        f"(<code>{_e(report['runs']['proxy']['report'])}</code>)</li>",
        f"<li>{_e(report['started'])} to {_e(report['finished'])}; kit "
        f"{_e(report['kit_version'])}, Python {_e(report['python'])}</li>",
        "</ul>",
        '<h2>Standings</h2><table class="counts"><tr><th>standing</th><th>requirements</th>'
        "<th>meaning</th></tr>",
    ]
    for standing in STANDINGS:
        parts.append(
            f'<tr><td><span class="badge s-{standing}">{standing}</span></td>'
            f"<td>{_e(counts.get(standing, 0))}</td><td>{_e(STANDING_TEXT[standing])}</td></tr>"
        )
    parts.append("</table>")
    latency = report.get("latency")
    if latency:
        figures = ", ".join(f"{f['ms']:g}" for f in latency["frames"][:200])
        parts.append(
            f"<h2>Stream frames</h2><p>{_e(latency['count'])} frames through the proxy: median "
            f"{_e(latency['median_ms'])} ms, 95th percentile {_e(latency['p95_ms'])} ms, max "
            f"{_e(latency['max_ms'])} ms.</p><details><summary>delay of each frame (ms)</summary>"
            f"<p>{_e(figures)}</p></details>"
        )
    parts.append('<h2>Requirements</h2><div class="filters">')
    for standing in STANDINGS:
        parts.append(
            f'<label><input type="checkbox" data-standing="{standing}" checked> '
            f"{standing} ({_e(counts.get(standing, 0))})</label>"
        )
    parts.append('<input id="search" type="search" placeholder="filter by text"></div>')
    parts.append(
        "<table><thead><tr><th>ID</th><th>level</th><th>title</th><th>upstream</th>"
        "<th>through the proxy</th><th>standing</th><th>reason</th></tr></thead><tbody>"
    )
    for r in rows:
        parts.append(
            f'<tr class="req" id="{_e(r["id"])}" data-standing="{_e(r["standing"])}">'
            f'<td class="id">{_e(r["id"])}</td><td>{_e(r["level"])}</td><td>{_e(r["title"])}</td>'
            f"<td>{_e(r['upstream'])}</td><td>{_e(r['proxy'])}</td>"
            f'<td><span class="badge s-{_e(r["standing"])}">{_e(r["standing"])}</span></td>'
            f'<td class="reason">{_e(r["reason"])}</td></tr>'
        )
    parts.append("</tbody></table>")
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"
