"""Two-sided report.json -> report.md: the counts per standing and the requirement matrix with
both columns, grouped by area. Pure function over the (already redacted) report dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.reports.proxy_combine import STANDINGS

__all__ = ["STANDING_TEXT", "render_proxy_markdown"]

#: What each standing says, as the reports explain it.
STANDING_TEXT = {
    "broken-by-proxy": "met by the upstream, broken through the proxy (a PROXY rule: broken)",
    "not-judged": "either run could not tell (not-applicable, not-tested or an error)",
    "inherited": "broken on both sides: the upstream's fault, passed on",
    "fixed-by-proxy": "broken by the upstream, met through the proxy",
    "holds": "met on both sides (a PROXY rule: met through the proxy)",
}


def render_proxy_markdown(report: Mapping[str, Any]) -> str:
    """The whole two-sided report as GitHub-flavoured Markdown."""
    upstream = report["upstream"]
    kind = "the kit's recording upstream" if upstream["kit"] else "the given upstream"
    recorded = "recorded" if upstream["recorded"] else "not recorded"
    lines = [
        "# Direct Line 3.0 proxy certification",
        "",
        f"**{_cell(report['conclusion'])}**",
        "",
        f"- proxy: `{report['proxy']['url']}`",
        f"- upstream: `{upstream['url']}` ({kind}, {recorded})",
        f"- profile: {report['profile'].get('name', '?')} "
        f"({report['profile'].get('source', '?')}); fail on {report['fail_on'].upper()}",
        f"- runs: upstream `{report['runs']['upstream']['report']}` "
        f"({_cell(report['runs']['upstream']['conclusion'])}); through the proxy "
        f"`{report['runs']['proxy']['report']}` ({_cell(report['runs']['proxy']['conclusion'])})",
        f"- {report['started']} to {report['finished']} ({report.get('duration', 0):g} s); "
        f"kit {report['kit_version']}, Python {report['python']}",
        "",
        "## Summary",
        "",
        "| standing | requirements | meaning |",
        "|---|---|---|",
    ]
    for standing in STANDINGS:
        lines.append(
            f"| {standing} | {report['summary'].get(standing, 0)} | {STANDING_TEXT[standing]} |"
        )
    latency = report.get("latency")
    if latency:
        lines += [
            "",
            f"Stream frames through the proxy: {latency['count']}, delay median "
            f"{latency['median_ms']:g} ms, 95th percentile {latency['p95_ms']:g} ms, "
            f"max {latency['max_ms']:g} ms.",
        ]
    lines.append("")
    areas: dict[str, list[dict[str, Any]]] = {}
    for row in report["requirements"]:
        areas.setdefault(row["area"], []).append(row)
    for area, rows in areas.items():
        lines += [
            f"## {area}",
            "",
            "| ID | level | title | upstream | through the proxy | standing | reason |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            standing = (
                f"**{r['standing']}**" if r["standing"] == "broken-by-proxy" else r["standing"]
            )
            lines.append(
                f"| {r['id']} | {r['level']} | {_cell(r['title'])} | {r['upstream']} "
                f"| {r['proxy']} | {standing} | {_cell(r['reason'])} |"
            )
        lines.append("")
    return "\n".join(lines)


def _cell(text: str, limit: int = 300) -> str:
    """One table cell: no newlines or pipes, at most ``limit`` characters."""
    flat = " ".join(str(text).split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[:limit] + "…"
