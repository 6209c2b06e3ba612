"""``directline-conformance certify-proxy``: certifying a proxy from both sides.

The suite runs twice with one profile and one seed, against the upstream service directly and
through the proxy in front of it, as two ``run`` subprocesses; their report.json files are then
combined per requirement (conformance.reports.proxy_combine). Part of the command line layer:
it may start the reference server. Modules, one job each:

    command   the subcommand: its flags, the two runs, the combined verdict and reports
    upstream  the kit's own upstream: the reference server, recording what reaches it
"""
