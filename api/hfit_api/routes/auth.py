"""``/auth``: exchange a password or an API token for an expiring session token; whoami; log out."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request

from hfit_api.accounts import authenticate_password, authenticate_token, issue_token, revoke_token
from hfit_api.deps import ClientAddress, CurrentUser, ServiceDep
from hfit_api.schemas import ERROR_RESPONSES, RevokedPublic, TokenPublic, TokenRequest, UserPublic
from hfit_dagster.errors import AuthError, InvalidRequest

router = APIRouter(prefix="/auth", tags=["auth"], responses=ERROR_RESPONSES)


@router.post("/token", name="auth.token", response_model=TokenPublic,
             responses={429: {"description": "too many failed attempts"}})
def create_token(body: TokenRequest, request: Request, service: ServiceDep, client: ClientAddress) -> TokenPublic:
    """A session token (expires after ``token_ttl_minutes``) for a user name + password, or for an API token."""
    if body.api_token is not None:
        attempted, secret = "", body.api_token
    elif body.username is not None and body.password is not None:
        attempted, secret = body.username, body.password
    else:
        raise InvalidRequest("send either username and password, or api_token")
    request.state.attempted_user = attempted or None
    service.logins.check(attempted, client)
    try:
        with service.db.session() as session:
            parent = None
            if body.api_token is not None:
                user, parent = authenticate_token(session, secret)
                if parent.kind != "api":
                    raise AuthError("only an API token can be exchanged for a session token")
            else:
                user = authenticate_password(session, attempted, secret)
            issued = issue_token(session, user, "session", timedelta(minutes=service.settings.token_ttl_minutes),
                                 parent=parent)
    except AuthError:
        service.logins.failed(attempted, client)
        raise
    service.logins.succeeded(attempted, client)
    request.state.user = user
    service.audit.record(action="auth.token", outcome="ok", user=user.name, client=client,
                         detail=f"session token {issued.id} via {'api token' if body.api_token else 'password'}")
    return TokenPublic(access_token=issued.secret, token_id=issued.id, expires_at=issued.expires_at,
                       user=user.name, role=user.role)


@router.delete("/token", name="auth.logout", response_model=RevokedPublic)
def delete_token(request: Request, user: CurrentUser, service: ServiceDep, client: ClientAddress) -> RevokedPublic:
    """Revoke the token this request was made with (``hfit logout``)."""
    token_id: str = request.state.token_id
    with service.db.session() as session:
        revoke_token(session, token_id)
    service.audit.record(action="auth.logout", outcome="ok", user=user.name, client=client,
                         detail=f"revoked {token_id}")
    return RevokedPublic(token_id=token_id)


@router.get("/me", name="auth.me", response_model=UserPublic)
def whoami(request: Request, user: CurrentUser) -> UserPublic:
    return UserPublic(name=user.name, role=user.role, token_id=request.state.token_id,
                      token_kind=request.state.token_kind, token_expires_at=request.state.token_expires_at)
