"""The verdict of a Schemathesis run: what it exercised, which failures the baseline accepts,
and one redacted example of each new kind of failure, with a curl line to reproduce it.

Exit status it implies: 0 no failure outside the baseline, 1 new failures, 2 the run could not
judge (Schemathesis errors, no end event, an operation never answered 2xx).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from conformance.evidence import Exchange, Redactor, curl_command, render_exchange
from tests.schemathesis.baseline import CHECKS, Baseline
from tests.schemathesis.events import CheckFailure, RunResult
from tests.schemathesis.wiring import REFRESH_PATH

__all__ = ["MAX_EXAMPLES", "summarize"]

#: Kinds of new failures shown with their exchange (the others are counted).
MAX_EXAMPLES = 20


@dataclass
class _Judged:
    """The failures sorted into accepted (per check and per baseline entry) and new."""

    accepted: Counter[str] = field(default_factory=Counter)
    used: Counter[int] = field(default_factory=Counter)
    new: list[CheckFailure] = field(default_factory=list)


def _judge(result: RunResult, baseline: Baseline) -> _Judged:
    judged = _Judged()
    for failure in result.failures:
        entry = baseline.entry_for(failure)
        if entry is None:
            judged.new.append(failure)
        else:
            judged.accepted[failure.check] += 1
            judged.used[baseline.accepted.index(entry)] += 1
    return judged


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    out = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        out.append("  " + "  ".join(cells))
    return out


def _requests(result: RunResult, operations: Sequence[str]) -> tuple[list[str], list[str]]:
    """The table of requests per operation and status class, and the operations never
    answered 2xx."""
    rows, unreached = [], []
    for operation in operations:
        counts = result.statuses.get(operation, Counter())
        by_class = Counter((status or 0) // 100 for status in counts.elements())
        if not by_class[2]:
            unreached.append(operation)
        total = str(sum(counts.values()))
        rows.append((operation, total, *(str(by_class[c]) for c in (2, 4, 5))))
    lines = [f"requests: {result.requests} to {len(operations)} operations"]
    lines += _table(rows, ("operation", "requests", "2xx", "4xx", "5xx"))
    return lines, unreached


def _checks(result: RunResult, judged: _Judged) -> list[str]:
    failed = result.failed_checks()
    new = Counter(f.check for f in judged.new)
    rows = [
        (name, *(str(n[name]) for n in (result.checks_run, failed, judged.accepted, new)))
        for name in CHECKS
    ]
    lines = ["", "checks (responses checked; failures: all, accepted by the baseline, new):"]
    return lines + _table(rows, ("check", "checked", "failed", "accepted", "new"))


def _baseline_use(baseline: Baseline, judged: _Judged) -> list[str]:
    lines: list[str] = []
    if judged.used:
        lines += ["", f"accepted by the baseline ({sum(judged.used.values())} failures):"]
        for index, count in sorted(judged.used.items()):
            lines.append(f"  {count:6}  {baseline.accepted[index].describe()}")
    unused = [e for i, e in enumerate(baseline.accepted) if i not in judged.used]
    if unused:
        lines += ["", f"baseline entries no failure of this run needed ({len(unused)}):"]
        lines += [f"  {entry.describe()}" for entry in unused]
    return lines


def _with_credential(exchange: Exchange, secret: str, token: str) -> Exchange:
    """Schemathesis records `Authorization: [Filtered]`: put back which credential was sent, so
    the curl line reads the secret from $DIRECTLINE_SECRET (and hides a token)."""
    credential = token if exchange.url.endswith(REFRESH_PATH) else secret
    headers = [
        (name, f"Bearer {credential}" if name.lower() == "authorization" else value)
        for name, value in exchange.request_headers
    ]
    return Exchange(**{**exchange.__dict__, "request_headers": headers})


def _kind(failure: CheckFailure) -> tuple[str, str, str, str, str]:
    return (
        failure.operation,
        failure.check,
        str(failure.status),
        failure.error_code or "-",
        (failure.media_type or "-").split(";")[0],
    )


def _example(
    failure: CheckFailure, count: int, redactor: Redactor, credentials: tuple[str, str]
) -> list[str]:
    kind = _kind(failure)
    lines = [
        "",
        f"- {failure.operation}: {failure.check} ({failure.code} {failure.title}), "
        f"status {kind[2]}, error code {kind[3]}, media type {kind[4]}: {count}x",
    ]
    lines += ["    " + redactor.redact(m) for m in failure.message.splitlines()]
    if failure.exchange is not None:
        exchange = _with_credential(failure.exchange, *credentials)
        shown = render_exchange(exchange, redactor, max_body=1500)
        lines += ["    " + x for x in shown.splitlines()]
        lines.append("    reproduce (against a server started the same way):")
        lines += ["      " + x for x in curl_command(exchange, redactor).splitlines()]
    return lines


def _new_failures(judged: _Judged, redactor: Redactor, credentials: tuple[str, str]) -> list[str]:
    kinds: dict[tuple[str, ...], list[CheckFailure]] = {}
    for failure in judged.new:
        kinds.setdefault(_kind(failure), []).append(failure)
    if not kinds:
        return []
    lines = ["", f"NEW FAILURES ({len(judged.new)}, {len(kinds)} kinds), one example of each:"]
    for members in list(kinds.values())[:MAX_EXAMPLES]:
        lines += _example(members[0], len(members), redactor, credentials)
    if len(kinds) > MAX_EXAMPLES:
        lines += ["", f"... and {len(kinds) - MAX_EXAMPLES} more kinds, not shown"]
    return lines


def _problems(
    result: RunResult, unreached: list[str], redactor: Redactor
) -> tuple[list[str], list[str]]:
    """What kept the run from judging, and the lines that show it."""
    problems: list[str] = []
    lines: list[str] = []
    if result.errors:
        problems.append(f"Schemathesis reported {sum(result.errors.values())} errors")
        lines += ["", "Schemathesis errors:"]
        lines += [f"  {n:6}  {redactor.redact(what)}" for what, n in result.errors.most_common()]
    if result.fatal:
        problems.append("Schemathesis stopped on a fatal error")
        lines += ["", "fatal:", *("  " + redactor.redact(x) for x in result.fatal)]
    if not result.finished:
        problems.append("the event stream has no end (Schemathesis did not finish)")
    if unreached:
        problems.append(f"never answered 2xx: {', '.join(unreached)}")
    return problems, lines


def summarize(
    result: RunResult,
    baseline: Baseline,
    operations: Sequence[str],
    redactor: Redactor,
    credentials: tuple[str, str],
) -> tuple[str, int]:
    """The summary text and the exit status it implies. `credentials` (secret, token) are
    what the run authenticated with: the examples' curl lines name them as variables."""
    judged = _judge(result, baseline)
    lines, unreached = _requests(result, operations)
    lines += _checks(result, judged)
    lines += _baseline_use(baseline, judged)
    lines += _new_failures(judged, redactor, credentials)
    problems, problem_lines = _problems(result, unreached, redactor)
    lines += [*problem_lines, ""]
    if problems:
        lines.append("result: ERROR, the run could not judge: " + "; ".join(problems))
        return "\n".join(lines), 2
    if judged.new:
        lines.append(f"result: FAIL, {len(judged.new)} failures the baseline does not accept")
        return "\n".join(lines), 1
    lines.append(
        f"result: PASS, no failure outside the baseline ({sum(judged.accepted.values())} "
        f"accepted by {len(judged.used)} of its {len(baseline.accepted)} entries)"
    )
    return "\n".join(lines), 0
