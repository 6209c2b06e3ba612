"""Every mutant module of this package, imported once, so framework.MUTANTS is complete.

Mutant modules are discovered by name: add a module here and its ``@mutant`` classes register.
"""

from __future__ import annotations

import importlib
import pkgutil

import tests.mutants
from tests.mutants.framework import MUTANTS

__all__ = ["MUTANTS"]

_INFRASTRUCTURE = {"framework", "catalogue", "wire", "killtable", "__main__"}

for _module in pkgutil.iter_modules(tests.mutants.__path__):
    if _module.name not in _INFRASTRUCTURE:
        importlib.import_module(f"tests.mutants.{_module.name}")
