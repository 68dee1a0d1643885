"""Errors a user can act on.

Every failure that reaches a person is an ``HfitError``: a message that says what is wrong and, where it
helps, a hint that says how to fix it. The CLI prints them without a traceback; the API maps them to JSON.
Messages never carry source data values: only names (files, fields, tables, columns, parameters).
"""

from __future__ import annotations


class HfitError(Exception):
    """Base of every error hfit reports to a user."""

    exit_code = 1
    code = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class TemplateError(HfitError):
    """A template file is malformed or fails validation."""

    exit_code = 3
    code = "template_invalid"


class TemplateNotFound(HfitError):
    exit_code = 4
    code = "template_not_found"


class ParameterError(HfitError):
    """A build parameter is unknown, missing or of the wrong type."""

    exit_code = 5
    code = "bad_parameter"


class QueryRefused(TemplateError):
    """Template SQL is not a single read-only SELECT."""

    code = "query_refused"


class ProviderError(HfitError):
    """A provider is not configured, or its database cannot be reached."""

    exit_code = 6
    code = "provider_error"


class MaskingError(HfitError):
    """Masking is misconfigured (missing key, unknown operator, model not installed)."""

    exit_code = 7
    code = "masking_error"


class LeakDetected(HfitError):
    """The leak check found an original value of a masked column in the written package."""

    exit_code = 8
    code = "leak_detected"


class BuildError(HfitError):
    """A build failed; nothing was published."""

    exit_code = 9
    code = "build_failed"


class StoreError(HfitError):
    """The package store cannot be written, or a package/version does not exist."""

    exit_code = 10
    code = "store_error"


# -- the service and its client -------------------------------------------------------------------------
# The API answers these as JSON ``{"error": {"code", "message", "hint"}}``; the client raises the same class
# from the code, so ``hfit`` exits with the same code whichever side found the problem.


class AuthError(HfitError):
    """Not authenticated: no token, an unknown, expired or revoked one, or wrong credentials."""

    exit_code = 2
    code = "unauthorized"


class Forbidden(HfitError):
    """Authenticated, but the role or the template's status does not allow this."""

    exit_code = 2
    code = "forbidden"


class RateLimited(HfitError):
    """Too many failed attempts; wait and try again."""

    exit_code = 2
    code = "rate_limited"


class NotFound(HfitError):
    """A template, package version or build does not exist (or is not visible to this user)."""

    exit_code = 4
    code = "not_found"


class InvalidRequest(HfitError):
    """A request is malformed: a name, version or format that is not allowed, a bad body."""

    exit_code = 5
    code = "invalid_request"


class Conflict(HfitError):
    """The request conflicts with the current state (e.g. the template already exists)."""

    exit_code = 12
    code = "conflict"


class ServerUnreachable(HfitError):
    """The hfit service did not answer (not running, wrong URL, network down, interrupted transfer)."""

    exit_code = 11
    code = "server_unreachable"


class ServiceError(HfitError):
    """The service failed unexpectedly (HTTP 5xx without a more precise code)."""

    exit_code = 13
    code = "internal_error"


class AlertsNotConfigured(HfitError):
    """The alert webhook has no shared secret configured."""

    exit_code = 14
    code = "alerts_not_configured"
