"""What reached the upstream through a proxy, and the PROXY rules judged from it.

``directline-conformance certify-proxy`` (conformance/certify/) runs the suite against the
upstream and through the proxy; on the second run ``conformance/suite/test_proxy.py`` compares
what the client sent with what the kit's recording upstream (conformance/reference/recording.py)
saw arrive. This package sits between the client and the suite: it reads files and judges, it
sends nothing. Modules, one job each:

    context    what the proxied run is told about the proxy and its upstream (a file)
    recording  reading the upstream's recording back, fingerprinting what the client sent
    checks     pure checks: what the client sent against what reached the upstream

The combined verdict and its reports are in conformance/reports/ (proxy_combine, proxy_json,
proxy_markdown, proxy_html, proxy_junit); the profile's ``[proxy]`` table in conformance/config/.
"""
