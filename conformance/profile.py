"""Former home of the target profiles: they live in :mod:`conformance.config.profile`.

Kept so ``import conformance.profile`` in users' code goes on working; the kit itself imports
the new path.
"""

from conformance.config.profile import *  # noqa: F403
from conformance.config.profile import __all__ as __all__
