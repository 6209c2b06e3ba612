"""report.json -> junit.xml: one testcase per requirement, so a CI shows the spec's rules (not
the kit's test functions) as its test list. Pure function over the redacted report dict.

Mapping: pass -> passed; fail and unexpected-pass -> <failure>; error -> <error>;
not-applicable and not-tested -> <skipped> with the reason; expected-fail -> <skipped>
"expected failure: reason"; any verdict but pass of a rule the expectations file lists as
informational -> <skipped> "informational (never fails the run): ...". Each testcase carries its
level and verdict as properties.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from conformance.verdicts import Verdict

__all__ = ["render_junit", "suite_document", "xml_text"]

# characters XML 1.0 cannot hold at all (a binary body in a transcript)
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def render_junit(report: dict[str, Any]) -> str:
    """The JUnit XML document as text (UTF-8 declared)."""
    tests = {t["nodeid"]: t for t in report["tests"]}
    rows = report["requirements"]
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    suite = ET.Element("testsuite", name="directline-conformance")
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("target", report["target"]["url"]),
        ("profile", report["profile"]["name"]),
        ("end_of_conversation", report["profile"]["end_of_conversation"]),
        ("fail_on", report["fail_on"]),
        ("kit_version", report["kit_version"]),
        ("python", report["python"]),
        ("conclusion", report["conclusion"]),
    ):
        ET.SubElement(properties, "property", name=name, value=xml_text(str(value)))
    for r in rows:
        own = [tests[n] for n in r["tests"] if n in tests]
        case = ET.SubElement(
            suite,
            "testcase",
            classname=r["area"],
            name=xml_text(f"{r['id']} {r['title']}"),
            time=f"{sum(t['duration'] for t in own):.3f}",
        )
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="level", value=r["level"])
        ET.SubElement(props, "property", name="verdict", value=r["verdict"])
        verdict, reason = Verdict(r["verdict"]), xml_text(r["reason"])
        if r.get("informational") and verdict is not Verdict.PASS:
            counts["skipped"] += 1
            ET.SubElement(
                case,
                "skipped",
                message=xml_text(f"informational (never fails the run): {verdict}: {reason}"),
            )
        elif verdict in (Verdict.FAIL, Verdict.UNEXPECTED_PASS):
            counts["failures"] += 1
            message = reason or verdict.value
            if verdict is Verdict.UNEXPECTED_PASS:
                message = f"unexpected pass: {reason}"
            element = ET.SubElement(case, "failure", message=message, type=verdict.value)
            element.text = _evidence(own, "failed") or message
        elif verdict is Verdict.ERROR:
            counts["errors"] += 1
            element = ET.SubElement(case, "error", message=reason or "error", type="error")
            element.text = _evidence(own, "error") or reason
        elif verdict is Verdict.EXPECTED_FAIL:
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=f"expected failure: {reason}")
        elif verdict in (Verdict.NOT_APPLICABLE, Verdict.NOT_TESTED):
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=f"{verdict}: {reason}")
    return suite_document(suite, len(rows), counts, report)


def suite_document(
    suite: ET.Element, tests: int, counts: Mapping[str, int], report: Mapping[str, Any]
) -> str:
    """The JUnit document of one filled testsuite: its counts, time and timestamp set."""
    suite.set("tests", str(tests))
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{float(report.get('duration', 0)):.3f}")
    suite.set("timestamp", report["started"].rstrip("Z"))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _evidence(tests: list[dict[str, Any]], outcome: str) -> str:
    """The redacted bug reports of a requirement's tests with this outcome, one after another."""
    texts = [
        f"{t['nodeid']}\n{t.get('evidence') or t['message']}"
        for t in tests
        if t["outcome"] == outcome
    ]
    return xml_text("\n\n".join(texts))


def xml_text(text: str) -> str:
    """``text`` with the characters XML 1.0 cannot hold replaced (a target's bytes end up in
    reasons and evidence)."""
    return _INVALID_XML.sub("\ufffd", text)
