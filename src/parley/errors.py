"""One exception tree for every protocol.

Each error carries a machine-readable ``code`` shared by the WebSocket protocols and
the REST API (DESIGN.md §5), an HTTP status for REST, and a WebSocket close code for
errors that end a connection.
"""

from __future__ import annotations


class ParleyError(Exception):
    """Base class: ``code`` is the wire error code, ``message`` is for humans."""

    code = "internal_error"
    http_status = 500
    ws_close_code = 1011

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class AuthenticationError(ParleyError):
    """Missing, malformed, unknown or revoked credentials."""

    code = "authentication_error"
    http_status = 401
    ws_close_code = 4001


class AuthorizationError(ParleyError):
    """Valid credentials that may not do this."""

    code = "authorization_error"
    http_status = 403
    ws_close_code = 4003


class NotFoundError(ParleyError):
    """The named resource (agent, session, key) does not exist."""

    code = "not_found_error"
    http_status = 404
    ws_close_code = 4004


class ValidationError(ParleyError):
    """A request or message that is malformed or has invalid values."""

    code = "validation_error"
    http_status = 422
    ws_close_code = 4000


class PayloadTooLargeError(ValidationError):
    """A body, or the audio in it, over the endpoint's limit."""

    http_status = 413
    ws_close_code = 1009


class SessionError(ParleyError):
    """The operation does not fit the session's state (ended, paused agent, ...)."""

    code = "session_error"
    http_status = 409
    ws_close_code = 4009


class ConflictError(ParleyError):
    """The resource is in use (e.g. a content policy that agents use cannot be deleted)."""

    code = "conflict_error"
    http_status = 409
    ws_close_code = 4009


class AudioError(ParleyError):
    """Audio that cannot be decoded or is in the wrong format."""

    code = "audio_error"
    http_status = 422
    ws_close_code = 4000


class RateLimitError(ParleyError):
    """Too many requests for this key; ``retry_after`` is in seconds."""

    code = "rate_limit_error"
    http_status = 429
    ws_close_code = 4029

    def __init__(self, message: str, *, retry_after: float, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after


class AudioRateError(ParleyError):
    """Audio sent faster than real time, beyond the allowed burst
    (``PARLEY_LIMITS__AUDIO_BURST_S``)."""

    code = "audio_rate_exceeded"
    http_status = 429
    ws_close_code = 1008


class InternalError(ParleyError):
    """A failure on our side; details are logged, never sent."""

    code = "internal_error"
    http_status = 500
    ws_close_code = 1011


class ModelsNotReadyError(ParleyError):
    """The server is still loading its models."""

    code = "session_error"
    http_status = 503
    ws_close_code = 1013


class ServerAtCapacityError(SessionError):
    """The server already holds as many conversations as it may
    (``PARLEY_LIMITS__MAX_SESSIONS``); ``retry_after`` is a hint in seconds."""

    http_status = 503
    ws_close_code = 1013

    def __init__(self, message: str, *, retry_after: float, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after


class ServerDrainingError(ServerAtCapacityError):
    """This replica is shutting down (SIGTERM) and takes no new conversations; another
    replica will (a load balancer stops routing here once ``/healthz`` says so)."""


class SharedStoreError(ParleyError):
    """The store the replicas share (Redis) did not answer."""

    code = "internal_error"
    http_status = 503
    ws_close_code = 1011


class ProviderUnavailableError(ParleyError):
    """A provider whose optional dependency is missing; the message names the extra."""

    code = "internal_error"
    http_status = 500
    ws_close_code = 1011


class ProviderError(ParleyError):
    """A model server behind a provider failed: down, too slow, an error answer, or an
    answer that cannot be used. The message names the provider; the turn fails, the
    session goes on, and the next turn tries again."""

    code = "internal_error"
    http_status = 502
    ws_close_code = 1011
