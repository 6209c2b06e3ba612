"""The ``directline-conformance`` command: run the suite, serve the reference server, list rules.

Exit status of ``run``: 0 every exercised requirement passed, 1 a conformance failure, 2 a
harness, network or configuration error or a run that exercised nothing. Bad input gets one line
on stderr naming what is wrong, never a traceback.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import os
import secrets
import sys
from collections.abc import Sequence
from typing import Any

import conformance
from conformance.config.arguments import fraction, port_number, positive, positive_int
from conformance.errors import ConfigError, KitError

__all__ = ["main"]

PROG = "directline-conformance"
EXIT_USAGE = 2
SMALL_SELECTION = 30
"""A `-k` selection of at most this many tests, none `slow`, runs in one process: starting
xdist workers costs more than such a selection takes (see benchmarks/suite_wall.py)."""
MAX_WORKERS = 32
"""The most workers the default picks, however many cores and timing tests there are."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args, extra = _split_passthrough(list(sys.argv[1:] if argv is None else argv))
    options = parser.parse_args(args)
    if extra and options.command not in ("run", "certify-proxy"):
        parser.error("arguments after -- are only for 'run' and 'certify-proxy'")
    try:
        return int(options.handler(options, extra))
    except KitError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head`: the reader has what it wanted; nothing failed
        _silence_stdout()
        return 0


def _silence_stdout() -> None:
    """After the reader of our output went away, send what is left to /dev/null so the
    interpreter's final flush cannot fail (and print a traceback) either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def emit(text: str) -> bool:
    """Print ``text``; False (quietly) when the reader has closed the pipe."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        _silence_stdout()
        return False
    return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Conformance kit for the Bot Framework Direct Line API 3.0.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {conformance.__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the conformance suite against a target (default: the embedded reference server)",
        description="Run the packaged suite. Arguments after -- go to pytest unchanged.",
    )
    add_setting_flags(run)
    run.add_argument("-k", metavar="EXPR", help="only tests matching the pytest expression")
    run.add_argument(
        "-n",
        metavar="WORKERS",
        default=None,
        help="parallel pytest-xdist workers (default: one per selected test that waits out a "
        "protocol timing, so the waits overlap and a run lasts about its longest wait, plus one "
        f"per CPU core for the rest; with -k selecting at most {SMALL_SELECTION} tests and none "
        "of the slow ones, one process; 0: one process)",
    )
    run.add_argument("-q", "--quiet", action="store_true", help="less output")
    run.add_argument("-v", "--verbose", action="store_true", help="one line per test")
    run.set_defaults(handler=_run)

    serve = commands.add_parser(
        "serve",
        help="run the reference Direct Line server in the foreground",
        description="Serve the reference Direct Line 3.0 server (with its echo bot) until stopped.",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=port_number, default=3978, help="port (default 3978)")
    serve.add_argument(
        "--secret",
        help="the Direct Line secret (default: $DIRECTLINE_SECRET, else a generated one, printed)",
    )
    serve.add_argument(
        "--behave",
        choices=("reference", "live"),
        default="reference",
        help="reference: as the docs say (default); live: a stand-in for the hosted service "
        "as docs/live-service.md describes it",
    )
    serve.add_argument(
        "--stream-window",
        type=positive,
        metavar="SECONDS",
        help="how long a streamUrl may be connected to (default 60)",
    )
    serve.add_argument(
        "--token-lifetime",
        type=positive_int,
        metavar="SECONDS",
        help="how long a token lives (default 1800; 3600 with --behave live)",
    )
    serve.add_argument(
        "--bot-timeout",
        type=positive,
        metavar="SECONDS",
        help="how long a send waits for the bot before answering 504 (default 15)",
    )
    serve.add_argument("--bot-url", metavar="URL", help="forward activities to this bot endpoint")
    serve.add_argument(
        "--end-of-conversation",
        choices=("refuse", "forward"),
        help="what happens after endOfConversation (default: refuse further sends; forward "
        "with --behave live)",
    )
    serve.add_argument(
        "--transient-errors",
        type=fraction,
        default=0.0,
        metavar="FRACTION",
        help="answer this fraction of polling and reconnect GETs with 503 ServiceError, once "
        "each (default 0)",
    )
    serve.add_argument(
        "--transient-seed",
        type=int,
        default=0,
        metavar="N",
        help="seed of --transient-errors: the same seed fails the same requests (default 0)",
    )
    serve.add_argument(
        "--count",
        metavar="FILE",
        help="keep FILE up to date with what clients made the server do (JSON: requests, "
        "conversations, streams, activities), counted at the server",
    )
    serve.add_argument(
        "--record",
        metavar="FILE",
        help="be the recorded upstream of a proxy check: append every request, answer and "
        "stream frame to FILE (JSON lines, credentials fingerprinted) and answer the "
        "#upstream: triggers (see certify-proxy --recording)",
    )
    serve.add_argument(
        "--allow-public", action="store_true", help="allow listening on a non-loopback address"
    )
    serve.set_defaults(handler=_serve)

    bot = commands.add_parser(
        "bot",
        help="run the kit's test bot (Bot Framework connector protocol) in the foreground",
        description="Serve the kit's canonical test bot on POST /api/messages until stopped: it "
        "echoes each message (text and attachments, replyToId set), greets a member who joins, "
        "and misbehaves on the trigger texts (error, end, slow, many) of the built-in profiles "
        "or of --profile. Put it behind an emulator, a proxy or an Azure bot registration.",
    )
    bot.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    bot.add_argument(
        "--port", type=port_number, default=3979, help="port (default 3979; 0: any free)"
    )
    bot.add_argument(
        "--allow-public", action="store_true", help="allow listening on a non-loopback address"
    )
    bot.add_argument(
        "--profile",
        metavar="FILE|NAME",
        help="take the trigger texts (and greeting) from this profile's [bot] table",
    )
    bot.add_argument(
        "--slow-seconds",
        type=positive,
        default=20.0,
        metavar="SECONDS",
        help="how long the slow trigger waits before the echo (default 20, above the hosted "
        "service's 15 s bot timeout)",
    )
    bot.add_argument(
        "--welcome",
        metavar="TEXT",
        help="the greeting for a member who joins (default: the profile's [bot] welcome when it "
        "has one, else Welcome!)",
    )
    bot.add_argument(
        "--reply-timeout",
        type=positive,
        default=10.0,
        metavar="SECONDS",
        help="longest wait for the channel to take one reply (default 10)",
    )
    bot.add_argument(
        "--app-id", metavar="ID", help="Azure bot registration: the app id to get tokens for"
    )
    bot.add_argument(
        "--app-password-env",
        metavar="NAME",
        help="environment variable holding the app's password (default MICROSOFT_APP_PASSWORD)",
    )
    bot.add_argument(
        "--token-url",
        metavar="URL",
        help="OAuth token endpoint (default: the Bot Framework's multi-tenant one; a "
        "single-tenant app uses https://login.microsoftonline.com/TENANT/oauth2/v2.0/token)",
    )
    bot.add_argument(
        "--trust-service-url",
        action="append",
        metavar="URL",
        help="also send the app's token to replies for this serviceUrl's origin (repeatable; "
        "always trusted: https://*.botframework.com and https://*.botframework.azure.us)",
    )
    bot.add_argument(
        "--parent",
        type=positive_int,
        metavar="PID",
        help="stop when the process PID, which started the bot, ends (for test harnesses)",
    )
    bot.set_defaults(handler=_bot)

    reqs = commands.add_parser(
        "requirements",
        help="list the catalog with the tests that cover each requirement",
    )
    reqs.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    reqs.add_argument("--uncovered", action="store_true", help="only requirements without a test")
    reqs.set_defaults(handler=_requirements)

    profiles = commands.add_parser("profiles", help="list the built-in target profiles")
    profiles.set_defaults(handler=_profiles)

    compare = commands.add_parser(
        "compare",
        help="what changed between two report.json files; exit 1 on any regression",
        description="Compare a baseline report.json with a new one: regressions (a requirement "
        "that passed now fails or errors), fixes, new and removed requirements, other changes. "
        "Exit 1 on any regression, 0 otherwise, 2 when a report cannot be read.",
    )
    compare.add_argument("base", metavar="BASE.json", help="the baseline report.json")
    compare.add_argument("new", metavar="NEW.json", help="the report.json of the new run")
    compare.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    compare.set_defaults(handler=_compare)

    from conformance.certify.command import add_parser as add_certify_proxy

    # certify-proxy shares run's setting flags and checks; handed over, not imported back
    add_certify_proxy(
        commands, setting_flags=add_setting_flags, check=check_configuration, given=given_settings
    )
    return parser


# -- run ----------------------------------------------------------------------------------------
def _run(options: argparse.Namespace, extra: list[str]) -> int:
    import pytest

    from conformance.config.settings import CLI_ENV

    os.environ[CLI_ENV] = "1"  # messages name this command's flags, workers included
    check_configuration(options)
    if options.n is None:
        options.n = default_workers(options)
    args = pytest_args(options, extra)
    code = pytest.main(args)
    return _exit_code(int(code))


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting the ``run`` command offers, from the settings table itself: the
    CLI, the pytest options and the environment variables cannot disagree."""
    from conformance.config.settings import SETTINGS

    for item in SETTINGS:
        if item.flag is None:
            continue
        env = f" [env {item.env}]" if item.env else ""
        if item.switch:
            parser.add_argument(
                item.flag, dest=item.name, action="store_true", default=None, help=item.help
            )
        else:
            parser.add_argument(
                item.flag,
                dest=item.name,
                metavar=item.metavar,
                choices=item.choices or None,
                default=None,
                help=item.help + env,
            )


def given_settings(options: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (None: not given)."""
    from conformance.config.settings import SETTINGS

    return {item.name: getattr(options, item.name, None) for item in SETTINGS if item.flag}


def check_configuration(options: argparse.Namespace) -> None:
    """Resolve the settings, profile, expectations, target URL, report directory and ``-k``
    once before pytest starts, so a mistake is one line here (naming the flag) rather than a
    crash in every pytest-xdist worker, and nothing is sent before it is found."""
    from conformance.catalog import load_catalog
    from conformance.config.expectations import load_expectations
    from conformance.config.settings import check_report_dir, resolve
    from conformance.config.target import effective_profile, normalise_target_url

    settings = resolve(given_settings(options), cli=True)
    effective_profile(settings, embedded=not settings.get("target"))
    if settings.get("target"):
        normalise_target_url(settings["target"])
    if settings.get("expect"):
        load_expectations(settings["expect"], load_catalog())
    if settings.get("report_dir") is not None:
        check_report_dir(settings["report_dir"], settings.flag("report_dir"))
    if options.k:
        check_keyword_expression(options.k)
    if options.n is not None and not (options.n.isdigit() or options.n in ("auto", "logical")):
        raise ConfigError(f"option -n: {options.n!r} is not a number of workers (or auto)")


def check_keyword_expression(expression: str) -> None:
    """A ``-k`` expression pytest would refuse: one line now, not an INTERNALERROR per worker."""
    try:
        from _pytest.mark import expression as grammar
    except ImportError:  # pragma: no cover - a pytest without it checks for itself
        return
    refusals: tuple[type[Exception], ...] = (SyntaxError, ValueError)
    parse_error = getattr(grammar, "ParseError", None)  # older pytest's own error type
    if isinstance(parse_error, type) and issubclass(parse_error, Exception):
        refusals += (parse_error,)
    try:
        grammar.Expression.compile(expression)
    except refusals as exc:
        detail = getattr(exc, "msg", None) or str(exc)
        raise ConfigError(
            f"option -k: {expression!r} is not a valid expression ({detail})"
        ) from None


#: What every pytest run of the packaged suite leaves out. The suite judges with its own checks
#: (conformance.suite.expect), never a bare assert, so rewriting asserts buys nothing; it costs
#: each process a parse and compile of every module of every installed pytest plugin (~190,
#: over 1 s of CPU where no .pyc can be cached). Schemathesis's plugin (a dev dependency) acts
#: only on its own tests and costs each process 0.6 s to import.
LEAN_PYTEST = ("--assert=plain", "-p", "no:schemathesis")


def pytest_args(options: argparse.Namespace, extra: Sequence[str]) -> list[str]:
    """The pytest command line that runs the packaged suite with these options."""
    from conformance.config.settings import SETTINGS

    args = ["--pyargs", "conformance.suite", "-p", "no:cacheprovider", "--noconftest"]
    args += ["-c", os.devnull, "--rootdir", os.getcwd(), "-r", "fE"]
    # the kit is imported before pytest starts, so pytest cannot rewrite its asserts: harmless
    args += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    args += LEAN_PYTEST  # arguments after -- come later and win
    for item in SETTINGS:
        value = getattr(options, item.name, None) if item.flag else None
        if value is None or value is False:
            continue
        args += [item.option] if item.switch else [item.option, str(value)]
    if options.k:
        args += ["-k", options.k]
    if options.n and options.n != "0":
        args += ["-n", options.n, "--dist", "loadgroup"]
    if options.quiet:
        args.append("-q")
    if options.verbose:
        args.append("-v")
    return args + list(extra)


def _exit_code(pytest_code: int) -> int:
    """pytest's status -> the kit's: 0 pass, 1 conformance failure, 2 anything else."""
    if pytest_code in (0, 1):
        return pytest_code
    if pytest_code == 2:  # our own verdict status (harness error / nothing exercised) or ^C
        return 2
    return EXIT_USAGE  # 3 internal error, 4 usage error, 5 nothing collected


# -- serve --------------------------------------------------------------------------------------
def _serve(options: argparse.Namespace, extra: list[str]) -> int:
    from conformance.reference.config import ServerConfig
    from conformance.reference.server import serve

    chosen: str | None = options.secret or os.environ.get("DIRECTLINE_SECRET")
    generated = not chosen
    secret = chosen or secrets.token_urlsafe(24)
    given = {
        "stream_window": options.stream_window,
        "token_lifetime": options.token_lifetime,
        "bot_timeout": options.bot_timeout,
        "end_of_conversation": options.end_of_conversation,
    }
    try:
        config = ServerConfig(
            secret=secret,
            behave=options.behave,
            bot_url=options.bot_url,
            transient_error_rate=options.transient_errors,
            transient_seed=options.transient_seed,
            traffic_file=options.count,
            recording_file=options.record,
            **{name: value for name, value in given.items() if value is not None},
        )
    except ValueError as exc:
        print(f"{PROG} serve: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def announce(line: str) -> None:
        print(line, flush=True)

    try:
        serve(
            config,
            host=options.host,
            port=options.port,
            announce=announce,
            allow_public=options.allow_public,
            show_secret=generated,
        )
    except (OSError, ValueError) as exc:
        print(f"{PROG} serve: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0


# -- bot ----------------------------------------------------------------------------------------
def _bot(options: argparse.Namespace, extra: list[str]) -> int:
    from conformance.testbot.command import run

    return run(options)


# -- requirements -------------------------------------------------------------------------------
def _requirements(options: argparse.Namespace, extra: list[str]) -> int:
    from conformance.catalog import Level, load_catalog

    catalog = load_catalog()
    coverage = collect_coverage()
    rows = []
    for requirement in catalog:
        tests = coverage.get(requirement.id, [])
        if options.uncovered and tests:
            continue
        rows.append((requirement, tests))
    if options.format == "json":
        print(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "level": r.level,
                        "title": r.title,
                        "needs": list(r.needs),
                        "source": {"page": r.source.page, "section": r.source.section},
                        "tests": tests,
                        "untested_because": r.untested if not tests else "",
                    }
                    for r, tests in rows
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
    elif options.format == "markdown":
        print("| ID | level | title | needs | tests |\n|---|---|---|---|---|")
        for r, tests in rows:
            print(
                f"| {r.id} | {r.level} | {r.title} | {', '.join(r.needs) or '-'} | "
                f"{'<br>'.join(tests) or 'not covered: ' + (r.untested or 'no test yet')} |"
            )
    else:
        for r, tests in rows:
            status = f"{len(tests)} test(s)" if tests else "NOT COVERED"
            print(f"{r.id:<14} {r.level:<6} {status:<12} {r.title}")
            if not tests:
                print(f"{'':<34}why: {r.untested or 'no test yet'}")
    covered = sum(1 for r in catalog if coverage.get(r.id))
    levels = [level for level in Level if level is not Level.RETIRED]
    per_level = ", ".join(
        f"{level} {sum(1 for r in catalog if r.level == level and coverage.get(r.id))}"
        f"/{sum(1 for r in catalog if r.level == level)}"
        for level in levels
    )
    print(
        f"\n{covered}/{len(catalog)} requirements covered by a test ({per_level})", file=sys.stderr
    )
    return 0


def default_workers(options: argparse.Namespace) -> str:
    """The -n to use when none is given: one worker per clock of the selection (the timing
    tests that wait out one timing run together on one worker, their conversations started at
    once: conformance.plugin.clocks), so every clock starts at once on a worker of its own,
    plus one per CPU core for the other tests (they are CPU-bound on loopback: more workers
    would only take turns); 0 (one process) for a small `-k` selection with no timing test.
    Starting a worker costs about half a second of CPU, so on a small machine the count
    matters (benchmarks/suite_wall.py)."""
    if getattr(options, "plan", None):
        return "0"  # nothing runs: one process plans fastest
    if options.k:
        selection = collected_selection(options.k)
        if selection is None:
            return str(workers_for(*suite_shape()))  # the real run reports the problem
        tests, clocks = selection
        if tests <= SMALL_SELECTION and not clocks:
            return "0"
        return str(workers_for(tests, clocks))
    return str(workers_for(*suite_shape()))


def workers_for(tests: int, clocks: int, cores: int | None = None) -> int:
    """Workers for a selection of ``tests`` whose timing tests make ``clocks`` clocks."""
    if cores is None:
        cores = available_cores()
    return max(1, min(tests, clocks + cores, MAX_WORKERS))


def available_cores() -> int:
    """The CPU cores this process may run on (a container's or taskset's limit included)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def suite_shape() -> tuple[int, int]:
    """(tests, clocks) of the whole packaged suite, read from its source without importing
    it: the controller of a run never collects, so collecting here would cost the run the
    import of every test module just to count. A clock is a timing the ``slow`` tests wait
    out (their ``cost`` marker's ``wait``)."""
    from pathlib import Path

    import conformance.suite as suite

    tests = 0
    clocks: set[str] = set()
    for path in sorted(Path(suite.__file__).parent.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                tests += 1
                if any(_is_slow_marker(d) for d in node.decorator_list):
                    clocks.add(_waited_timing(node) or f"{path.name}::{node.name}")
    return tests, len(clocks)


def _is_slow_marker(decorator: ast.expr) -> bool:
    """``@pytest.mark.slow`` (with or without a call)."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Attribute) and target.attr == "slow"


def _waited_timing(function: ast.FunctionDef) -> str | None:
    """The ``wait="..."`` of a test's ``@cost(...)`` decorator (its clock), None if none."""
    for decorator in function.decorator_list:
        if not isinstance(decorator, ast.Call):
            continue
        target = decorator.func
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name != "cost":
            continue
        for keyword in decorator.keywords:
            if keyword.arg == "wait" and isinstance(keyword.value, ast.Constant):
                return str(keyword.value.value)
    return None


def collected_selection(keyword: str) -> tuple[int, int] | None:
    """(tests, clocks) that ``-k keyword`` selects, found by collecting the suite in this
    process (the modules stay imported, so the run that follows collects again cheaply);
    None when the collection fails."""
    import pytest

    from conformance.plugin.clocks import clock_of

    selected: list[Any] = []

    class Counter:
        def pytest_collection_finish(self, session: pytest.Session) -> None:
            selected.extend(session.items)

    args = ["--collect-only", "-q", "--pyargs", "conformance.suite", "-p", "no:cacheprovider"]
    args += ["--noconftest", "-c", os.devnull, "--rootdir", os.getcwd(), "-k", keyword]
    args += LEAN_PYTEST  # the run that follows has them too: the modules are imported once
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        code = pytest.main(args, plugins=[Counter()])
    if code not in (0, 5):
        return None
    slow = [item for item in selected if item.get_closest_marker("slow")]
    return len(selected), len({clock_of(item) or item.nodeid for item in slow})


def collect_coverage() -> dict[str, list[str]]:
    """Requirement ID -> node IDs of the packaged suite's tests that declare it."""
    import pytest

    from conformance.plugin.markers import requirement_ids

    found: dict[str, list[str]] = {}

    class Collector:
        def pytest_collection_modifyitems(self, items: list[Any]) -> None:
            for item in items:
                for rid in requirement_ids(item):
                    found.setdefault(rid, []).append(item.nodeid)

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        code = pytest.main(
            [
                "--collect-only",
                "-q",
                "--pyargs",
                "conformance.suite",
                "-p",
                "no:cacheprovider",
                "--noconftest",
                "-c",
                os.devnull,
                "--rootdir",
                os.getcwd(),
                *LEAN_PYTEST,
            ],
            plugins=[Collector()],
        )
    if code not in (0, 5):
        raise KitError(f"could not collect the packaged suite:\n{sink.getvalue()[-2000:]}")
    return found


# -- compare ------------------------------------------------------------------------------------
def _compare(options: argparse.Namespace, extra: list[str]) -> int:
    """A bad report raises ReportError (a KitError): one line on stderr, exit 2, from main()."""
    from conformance.reports.compare import compare_reports, load_report, render

    base, new = load_report(options.base), load_report(options.new)
    comparison = compare_reports(base, new)
    emit(render(comparison, options.format))
    return comparison.exit_status  # the comparison's, whether or not the reader read it all


# -- profiles -----------------------------------------------------------------------------------
def _profiles(options: argparse.Namespace, extra: list[str]) -> int:
    from conformance.config.profile import builtin_profile_names, load_profile

    for name in builtin_profile_names():
        profile = load_profile(name)
        print(f"{name:<20} {profile.description}")
    return 0


# -- argument helpers ---------------------------------------------------------------------------
def _split_passthrough(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        index = argv.index("--")
        return argv[:index], argv[index + 1 :]
    return argv, []


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
