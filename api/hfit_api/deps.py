"""What a route needs, stated in its signature: the service, the user (with a role), valid names.

Validation lives here so handlers stay a few lines: a bad template name or version never reaches a
handler, and every refusal raises an ``HfitError`` that the error handlers answer and audit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hfit_api.accounts import authenticate_token
from hfit_api.catalog import CatalogEntry
from hfit_api.errors import client_address
from hfit_api.service import Service
from hfit_api.state import User
from hfit_dagster.errors import AuthError, Forbidden, InvalidRequest, StoreError
from hfit_dagster.package.store import PackageStore

LATEST = "latest"
_bearer = HTTPBearer(auto_error=False, description="a token from POST /auth/token, or an API token")


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def get_current_user(request: Request, service: ServiceDep,
                     credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
    if credentials is None:
        raise AuthError("not authenticated: send 'Authorization: Bearer <token>'", hint="run 'hfit login'")
    with service.db.session() as session:
        user, token = authenticate_token(session, credentials.credentials)
    request.state.user = user
    request.state.token_id = token.id
    request.state.token_kind = token.kind
    request.state.token_expires_at = token.expires_at
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_role(role: str) -> Callable[[User], User]:
    def dependency(user: CurrentUser) -> User:
        if not user.has_role(role):
            raise Forbidden(f"this needs the {role} role; {user.name} is a {user.role}")
        return user

    return dependency


AuthorUser = Annotated[User, Depends(require_role("author"))]
ApproverUser = Annotated[User, Depends(require_role("approver"))]
AdminUser = Annotated[User, Depends(require_role("admin"))]


def client(request: Request) -> str:
    return client_address(request)


ClientAddress = Annotated[str, Depends(client)]


def _check_name(name: str) -> str:
    try:
        return PackageStore.check_template_name(name)
    except StoreError as exc:
        raise InvalidRequest(exc.message, hint="template names are lower-case letters, digits and . _ -") from None


def valid_template(name: str, service: ServiceDep, user: CurrentUser) -> CatalogEntry:
    """``/templates/{name}``: a template the service knows."""
    return service.catalog.get(_check_name(name))


def valid_package_template(template: str, service: ServiceDep, user: CurrentUser) -> CatalogEntry:
    """``/packages/{template}/...``: a template the service knows."""
    return service.catalog.get(_check_name(template))


def valid_version(version: str) -> str:
    """A published version id, or ``latest``."""
    if version == LATEST:
        return version
    try:
        return PackageStore.check_version(version)
    except StoreError as exc:
        raise InvalidRequest(exc.message, hint=exc.hint) from None


Template = Annotated[CatalogEntry, Depends(valid_template)]
PackageTemplate = Annotated[CatalogEntry, Depends(valid_package_template)]
Version = Annotated[str, Depends(valid_version)]
