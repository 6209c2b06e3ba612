"""What a run leaves for people and machines, all rendered from one RunRecord.

- :mod:`~conformance.reports.json`: the record as ``report.json`` (versioned, validated by its
  schema), redacted once, and :func:`write_reports`, which writes the four files from it;
- :mod:`~conformance.reports.markdown`, :mod:`~conformance.reports.html`,
  :mod:`~conformance.reports.junit`: ``report.md``, ``report.html`` and ``junit.xml``, pure
  functions over that redacted dict;
- :mod:`~conformance.reports.compare`: what changed between two ``report.json`` files.

Reports read verdicts and nothing of the plugin that produced them.
"""
