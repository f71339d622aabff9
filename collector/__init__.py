"""session-collector: an OpenTelemetry-style collector for Claude Code and Cowork telemetry."""

__all__ = ["__version__"]

__version__ = "0.1.0"
