"""Former home of the checks: they live in :mod:`conformance.suite.expect`.

Kept so suites written against the kit (``from conformance import expect``) go on working; the
kit itself imports the new path.
"""

from conformance.suite.expect import *  # noqa: F403
from conformance.suite.expect import __all__ as __all__
