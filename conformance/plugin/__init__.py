"""The pytest plugin: target options, fixtures, the ``requirement`` marker, plan and verdicts.

Registered through the ``pytest11`` entry point (this module), so it is loaded in every pytest
run of an environment that has the kit installed. It stays inert until used: until collected
tests carry ``@pytest.mark.requirement`` (the packaged suite does) or a fixture of it is
requested. The heavy parts (the client's httpx and websockets, the reference server, the
report renderers) are imported only then.

- :mod:`~conformance.plugin.hooks`: how pytest drives a run (options, collection, outcomes,
  the end), on a :mod:`~conformance.plugin.session` (what one run holds);
- :mod:`~conformance.plugin.fixtures`: ``dl_target``, ``dl_client``, ``dl_conversation``...;
- :mod:`~conformance.plugin.markers`, :mod:`~conformance.plugin.plan`,
  :mod:`~conformance.plugin.scheduling`, :mod:`~conformance.plugin.lanes`,
  :mod:`~conformance.plugin.clocks`: what a test declares, what the selection costs, how it is
  spread over workers, shared conversations, timing tests' conversations started together;
- :mod:`~conformance.plugin.preflight`: the target is a Direct Line service at all;
- :mod:`~conformance.plugin.outcomes`, :mod:`~conformance.plugin.record`,
  :mod:`~conformance.plugin.summary`: a test's failure as a bug report, the RunRecord, the
  terminal summary.
"""

from conformance.plugin import fixtures
from conformance.plugin.fixtures import *  # noqa: F403 (pytest finds the fixtures here)
from conformance.plugin.hooks import DirectLinePlugin, pytest_addoption, pytest_configure
from conformance.plugin.markers import MARKER, SUITE_PACKAGE, requirement_ids

__all__ = [
    "MARKER",
    "SUITE_PACKAGE",
    "DirectLinePlugin",
    "pytest_addoption",
    "pytest_configure",
    "requirement_ids",
]
__all__ += fixtures.__all__
