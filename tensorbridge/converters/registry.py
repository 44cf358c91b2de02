"""Op-handler registries: one per conversion direction, keyed by (domain, op type), each entry
valid over an inclusive range of the direction's version axis (e.g. the target ONNX opset).

    TF_IMPORT = Registry("savedmodel->ir", version_axis="target ONNX opset")

    @TF_IMPORT.register("Relu", "Relu6")
    def import_relu(ctx, node): ...

Lookup picks the handler whose range holds the version. Overlapping ranges for one op are a
programming error, raised at import time. A registry is a value: ``resolve(version)`` gives the
table one conversion uses; nothing global is mutated after import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import TensorbridgeError, UnsupportedOpError


class DuplicateHandlerError(TensorbridgeError):
    """Two handlers of one registry claim the same op over overlapping version ranges."""


@dataclass(frozen=True)
class Handler:
    domain: str
    op_type: str
    since: int
    until: int | None  # inclusive; None = no upper bound
    fn: Callable[..., Any]
    where: str  # "module:function", for messages

    def covers(self, version: int) -> bool:
        return self.since <= version and (self.until is None or version <= self.until)


class Registry:
    def __init__(self, name: str, version_axis: str) -> None:
        self.name = name
        self.version_axis = version_axis
        self._table: dict[tuple[str, str], list[Handler]] = {}

    def register(
        self, *op_types: str, since: int = 1, until: int | None = None, domain: str = ""
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            where = f"{fn.__module__}:{fn.__qualname__}"
            for op in op_types:
                self._add(Handler(domain, op, since, until, fn, where))
            return fn

        return decorate

    def _add(self, h: Handler) -> None:
        entries = self._table.setdefault((h.domain, h.op_type), [])
        for other in entries:
            if _overlap(h, other):
                raise DuplicateHandlerError(
                    f"{self.name}: {h.op_type} registered twice for overlapping "
                    f"{self.version_axis} ranges: {other.where} and {h.where}"
                )
        entries.append(h)
        entries.sort(key=lambda e: e.since)

    def lookup(self, op_type: str, version: int, domain: str = "") -> Handler:
        for h in self._table.get((domain, op_type), []):
            if h.covers(version):
                return h
        ranges = [f"{h.since}..{h.until or ''}" for h in self._table.get((domain, op_type), [])]
        hint = f"handled for {self.version_axis} {', '.join(ranges)}" if ranges else None
        raise UnsupportedOpError(self.name, {(domain, op_type): []}, hint=hint)

    def resolve(self, version: int) -> Mapping[tuple[str, str], Handler]:
        """The (domain, op) -> handler table for one version: what a conversion uses."""
        table = {}
        for key, entries in self._table.items():
            for h in entries:
                if h.covers(version):
                    table[key] = h
        return table

    def handlers(self) -> list[Handler]:
        return [h for key in sorted(self._table) for h in self._table[key]]

    def op_types(self, version: int | None = None) -> list[str]:
        if version is None:
            return sorted({op for _, op in self._table})
        return sorted(op for _, op in self.resolve(version))


def _overlap(a: Handler, b: Handler) -> bool:
    a_end = a.until if a.until is not None else float("inf")
    b_end = b.until if b.until is not None else float("inf")
    return a.since <= b_end and b.since <= a_end
