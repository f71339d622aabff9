"""Who sent a request (the OpenTelemetry Collector's ``extension/auth``, for servers): the
contract between listening components and authenticating extensions (``authenticator``:
``Authenticator``, ``Principal``, ``AuthError``, reading the ``Authorization`` header) and
the API key file (``keystore``).

Imports nothing of the collector.
"""

from collector.auth.authenticator import Authenticator, AuthError, Principal, authorization

__all__ = ["AuthError", "Authenticator", "Principal", "authorization"]
