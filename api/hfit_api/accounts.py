"""Users and their tokens: create, authenticate, revoke. Used by the routes and by ``hfit admin``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hfit_api.security import digests_match, hash_password, new_token, new_token_id, token_digest, verify_password
from hfit_api.state import ROLES, Token, User, utcnow
from hfit_dagster.errors import AuthError, Conflict, InvalidRequest, NotFound

USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued token: ``secret`` is shown to its owner once and never stored."""

    secret: str
    id: str
    kind: str
    expires_at: datetime | None


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidRequest(f"unknown role {role[:30]!r}", hint=f"roles: {', '.join(ROLES)}")
    return role


def create_user(session: Session, name: str, role: str, password: str | None = None) -> tuple[User, IssuedToken]:
    """A new user and their first API token."""
    if not USER_NAME.match(name or ""):
        raise InvalidRequest(f"invalid user name {name[:40]!r}",
                             hint="letters, digits and . _ @ - (at most 100 characters)")
    check_role(role)
    if session.scalar(sa.select(User).where(User.name == name)) is not None:
        raise Conflict(f"user {name!r} already exists")
    user = User(name=name, role=role, password_hash=hash_password(password) if password else None)
    session.add(user)
    session.flush()
    return user, issue_token(session, user, "api")


def find_user(session: Session, name: str) -> User:
    user = session.scalar(sa.select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user named {name[:40]!r}")
    return user


def issue_token(session: Session, user: User, kind: str, ttl: timedelta | None = None) -> IssuedToken:
    secret = new_token()
    expires_at = utcnow() + ttl if ttl is not None else None
    token = Token(id=new_token_id(), digest=token_digest(secret), user_id=user.id, kind=kind, expires_at=expires_at)
    session.add(token)
    return IssuedToken(secret=secret, id=token.id, kind=kind, expires_at=expires_at)


def authenticate_password(session: Session, name: str, password: str) -> User:
    user = session.scalar(sa.select(User).where(User.name == name))
    if not verify_password(password, user.password_hash if user is not None else None) or user is None:
        raise AuthError("wrong user name or password")
    if user.disabled:
        raise AuthError(f"user {name!r} is disabled")
    return user


def authenticate_token(session: Session, secret: str) -> tuple[User, Token]:
    """The user a bearer token belongs to, or an AuthError saying why not (never echoing the token)."""
    if not secret.startswith("hfit_") or len(secret) > 200:
        raise AuthError("invalid token", hint="log in again with 'hfit login'")
    token = session.scalar(sa.select(Token).where(Token.digest == token_digest(secret)))
    if token is None or not digests_match(token.digest, secret):
        raise AuthError("invalid token", hint="log in again with 'hfit login'")
    if token.revoked_at is not None:
        raise AuthError("token has been revoked", hint="log in again with 'hfit login'")
    now = utcnow()
    if token.expires_at is not None and token.expires_at <= now:
        raise AuthError("token has expired", hint="log in again with 'hfit login'")
    user = session.get(User, token.user_id)
    if user is None or user.disabled:
        raise AuthError("the token's user is disabled")
    token.last_used_at = now
    return user, token


def revoke_token(session: Session, token_id: str) -> Token:
    token = session.get(Token, token_id)
    if token is None:
        raise NotFound(f"no token with id {token_id[:40]!r}", hint="'hfit admin list-users' shows token ids")
    token.revoked_at = token.revoked_at or utcnow()
    return token


def revoke_user_tokens(session: Session, name: str) -> int:
    user = find_user(session, name)
    tokens = session.scalars(sa.select(Token).where(Token.user_id == user.id, Token.revoked_at.is_(None))).all()
    for token in tokens:
        token.revoked_at = utcnow()
    return len(tokens)


def user_tokens(session: Session, user: User) -> list[Token]:
    return list(session.scalars(sa.select(Token).where(Token.user_id == user.id).order_by(Token.created_at)))


def list_users(session: Session) -> list[User]:
    return list(session.scalars(sa.select(User).order_by(User.name)))
