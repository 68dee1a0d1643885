"""The real `hfit serve` of the API tests, shared (one server per session)."""

from tests.api.conftest import built, server  # noqa: F401
