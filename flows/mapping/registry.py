"""Every mapping algorithm, named derivation and record source by name, gathered from their packages: one module
each (flows/mapping/algorithms, derivations, sources), as CDISC CORE keeps one operation per file behind a factory.
Adding one is adding its module (and its test); nothing here names any."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

from flows.mapping import algorithms, derivations, sources
from flows.mapping.vocabulary import Operation, RecordSource


def gather(package: ModuleType, attribute: str, kind: type) -> dict[str, Any]:
    """name -> the record each module of `package` defines as `attribute`, named as its module (sorted by name)."""
    found = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        record = getattr(module, attribute, None)
        if not isinstance(record, kind) or record.name != info.name:
            raise TypeError(f"{module.__name__} must define {attribute}, a {kind.__name__} named '{info.name}'")
        found[record.name] = record
    return found


ALGORITHMS: dict[str, Operation] = gather(algorithms, "ALGORITHM", Operation)
_NAMED: dict[str, Operation] = gather(derivations, "DERIVATION", Operation)
DERIVATIONS: dict[str, Operation] = {n: op for n, op in _NAMED.items() if not op.record_filter}
RECORD_FILTERS: dict[str, Operation] = {n: op for n, op in _NAMED.items() if op.record_filter}
RECORD_SOURCES: dict[str, RecordSource] = gather(sources, "RECORD_SOURCE", RecordSource)
