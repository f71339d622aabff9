"""Connection settings shared by the Kafka exporter and receiver: brokers, SASL and TLS."""

from __future__ import annotations

import ssl
from typing import Any, Literal

from pydantic import Field, SecretStr

from collector.component import ComponentConfig

TENANT_HEADER = "tenant"


class SaslSettings(ComponentConfig):
    mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    username: str = Field(min_length=1)
    password: SecretStr


class KafkaTlsSettings(ComponentConfig):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_verify: bool = False


class KafkaClientSettings(ComponentConfig):
    brokers: list[str] = Field(default=["localhost:9092"], min_length=1)
    client_id: str = "session-collector"
    sasl: SaslSettings | None = None
    tls: KafkaTlsSettings | None = None

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer and consumer."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": ",".join(self.brokers),
            "client_id": self.client_id,
        }
        if self.tls is not None:
            ctx = ssl.create_default_context(cafile=self.tls.ca_file)
            if self.tls.cert_file:
                ctx.load_cert_chain(self.tls.cert_file, self.tls.key_file)
            if self.tls.insecure_skip_verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            kwargs["ssl_context"] = ctx
        if self.sasl is not None:
            kwargs["security_protocol"] = "SASL_SSL" if self.tls else "SASL_PLAINTEXT"
            kwargs["sasl_mechanism"] = self.sasl.mechanism
            kwargs["sasl_plain_username"] = self.sasl.username
            kwargs["sasl_plain_password"] = self.sasl.password.get_secret_value()
        else:
            kwargs["security_protocol"] = "SSL" if self.tls else "PLAINTEXT"
        return kwargs
