"""What every component is (the OpenTelemetry Collector's ``component``): its id, kind,
config model, factory, lifecycle and consumer (``component``), the registry of factories by
kind and type (``registry``), and which worker process it runs in (``process``).

May import ``collector.pdata``, ``collector.confmap`` and ``collector.consumererror``;
never a component, the service or the command line.
"""

from collector.component.component import (
    ALL_SIGNALS,
    Component,
    ComponentConfig,
    ComponentID,
    ComponentIDField,
    Consumer,
    Exporter,
    Factory,
    Host,
    Kind,
    Processor,
    consumer_signals,
)

__all__ = [
    "ALL_SIGNALS",
    "Component",
    "ComponentConfig",
    "ComponentID",
    "ComponentIDField",
    "Consumer",
    "Exporter",
    "Factory",
    "Host",
    "Kind",
    "Processor",
    "consumer_signals",
]
