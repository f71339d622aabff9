"""Factories by kind and type: the only way the service learns about component types."""

from __future__ import annotations

from collections.abc import Iterable

from collector.component import Factory, Kind


class Registry:
    """A lookup of :class:`Factory` by kind and type name."""

    def __init__(self, factories: Iterable[Factory] = ()) -> None:
        self._factories: dict[Kind, dict[str, Factory]] = {kind: {} for kind in Kind}
        for factory in factories:
            self.register(factory)

    def register(self, factory: Factory) -> None:
        table = self._factories[factory.kind]
        if factory.type in table:
            raise ValueError(f"{factory.kind.singular} type {factory.type!r} registered twice")
        table[factory.type] = factory

    def get(self, kind: Kind, type_: str) -> Factory | None:
        return self._factories[kind].get(type_)

    def types(self, kind: Kind) -> list[str]:
        return sorted(self._factories[kind])

    def factories(self, kind: Kind) -> list[Factory]:
        return [self._factories[kind][t] for t in self.types(kind)]

    def with_factories(self, *factories: Factory) -> Registry:
        """A copy with more factories (tests add their doubles this way)."""
        copy = Registry(f for kind in Kind for f in self.factories(kind))
        for factory in factories:
            copy.register(factory)
        return copy
