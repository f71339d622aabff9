"""What the Kafka receiver and exporter share (the OpenTelemetry Collector contrib's
``internal/kafka``): the client settings, TLS and SASL, and the tenant header.

May import ``collector.component``.
"""
