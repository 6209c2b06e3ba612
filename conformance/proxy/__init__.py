"""Certifying a proxy from both sides (``directline-conformance certify-proxy``).

The suite runs twice with one profile and one seed: against the upstream service directly and
through the proxy in front of it. Where the upstream is the kit's own recording server, what
reached it through the proxy is compared with what the client sent (the PROXY rules of the
catalog, judged by ``conformance/suite/test_proxy.py``). Modules, one job each:

    context          what the proxied run is told about the proxy and its upstream (a file)
    recording        reading the upstream's recording (conformance/reference/recording.py)
    checks           pure checks: what the client sent against what reached the upstream
    combine          two reports -> one standing per requirement, the exit status
    report           the combined report.json (its schema) and the files rendered from it
    report_markdown  report.md of a two-sided run
    report_html      report.html of a two-sided run
    report_junit     junit.xml of a two-sided run
    command          the certify-proxy command: the kit's upstream, the two runs, the verdict
"""
