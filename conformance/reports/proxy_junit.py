"""Two-sided report.json -> junit.xml: one testcase per requirement, both verdicts as
properties, so a CI test tab lists what the proxy did to each rule.

Mapping: ``broken-by-proxy`` -> <failure> (a MAY, informational or expected-fail one:
<skipped>);
``not-judged`` -> <error> when an error on either side left a rule that could fail the run
unjudged, else <skipped>; ``inherited`` -> <skipped> "inherited: ..." (the upstream's fault);
``fixed-by-proxy`` and ``holds`` -> passed. Pure function over the redacted report dict.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from conformance.reports.junit import suite_document, xml_text

__all__ = ["render_proxy_junit"]


def render_proxy_junit(report: Mapping[str, Any]) -> str:
    """The JUnit XML document as text."""
    fail_levels = ("MUST",) if report["fail_on"] == "must" else ("MUST", "SHOULD")
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    suite = ET.Element("testsuite", name="directline-conformance certify-proxy")
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("proxy", report["proxy"]["url"]),
        ("upstream", report["upstream"]["url"]),
        ("profile", report["profile"].get("name", "")),
        ("fail_on", report["fail_on"]),
        ("kit_version", report["kit_version"]),
        ("conclusion", report["conclusion"]),
    ):
        ET.SubElement(properties, "property", name=name, value=xml_text(str(value)))
    for r in report["requirements"]:
        case = ET.SubElement(
            suite, "testcase", classname=r["area"], name=xml_text(f"{r['id']} {r['title']}")
        )
        props = ET.SubElement(case, "properties")
        for name in ("level", "upstream", "proxy", "standing"):
            ET.SubElement(props, "property", name=name, value=str(r[name]))
        standing, reason = r["standing"], xml_text(r["reason"])
        counted = r["level"] in fail_levels and not r.get("informational")
        if standing == "broken-by-proxy" and counted and r["proxy"] == "fail":
            counts["failures"] += 1
            element = ET.SubElement(case, "failure", message=reason or standing, type=standing)
            element.text = xml_text(r.get("proxy_reason") or reason)
        elif standing == "broken-by-proxy":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=f"broken by the proxy (does not fail): {reason}")
        elif standing == "not-judged" and counted and "error" in (r["upstream"], r["proxy"]):
            counts["errors"] += 1
            ET.SubElement(case, "error", message=reason or standing, type="error")
        elif standing == "not-judged":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=f"not judged: {reason}")
        elif standing == "inherited":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=f"inherited: {reason}")
    return suite_document(suite, len(report["requirements"]), counts, report)
