"""Users and their tokens: create, authenticate, revoke; disable, enable, delete, change role, reset password.

Used by the routes and by ``hfit admin``. A deleted user stays as a tombstone row (renamed, disabled), so ids
are never reused; deleting revokes every token of the user. A session token records the API token it was
exchanged for, and revoking that token ends the session too.
"""

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
    if session.scalar(sa.select(User).where(User.name == name, User.deleted_at.is_(None))) is not None:
        raise Conflict(f"user {name!r} already exists")
    user = User(name=name, role=role, password_hash=hash_password(password) if password else None)
    session.add(user)
    session.flush()
    return user, issue_token(session, user, "api")


def find_user(session: Session, name: str) -> User:
    user = session.scalar(sa.select(User).where(User.name == name, User.deleted_at.is_(None)))
    if user is None:
        raise NotFound(f"no user named {name[:40]!r}", hint="'hfit admin list-users' shows them")
    return user


def set_disabled(session: Session, name: str, disabled: bool) -> User:
    """Disable (no login, no token works) or enable a user; their tokens are kept for when they return."""
    user = find_user(session, name)
    user.disabled = disabled
    return user


def delete_user(session: Session, name: str) -> User:
    """Revoke every token and keep the row as a renamed, disabled tombstone: the id is never reused."""
    user = find_user(session, name)
    revoke_user_tokens(session, name)
    user.disabled, user.password_hash, user.deleted_at = True, None, utcnow()
    user.name = f"{name}#deleted-{user.id}"[:100]  # '#' is no user name character: the name is free again
    return user


def set_role(session: Session, name: str, role: str) -> User:
    user = find_user(session, name)
    user.role = check_role(role)
    return user


def reset_password(session: Session, name: str, password: str) -> int:
    """A new password; every session token of the user ends (API tokens stay). Returns the sessions ended."""
    if not password:
        raise InvalidRequest("the new password is empty")
    user = find_user(session, name)
    user.password_hash = hash_password(password)
    sessions = session.scalars(sa.select(Token).where(Token.user_id == user.id, Token.kind == "session",
                                                      Token.revoked_at.is_(None))).all()
    for token in sessions:
        token.revoked_at = utcnow()
    return len(sessions)


def issue_token(session: Session, user: User, kind: str, ttl: timedelta | None = None,
                parent: Token | None = None) -> IssuedToken:
    secret = new_token()
    expires_at = utcnow() + ttl if ttl is not None else None
    if parent is not None and parent.expires_at is not None:
        expires_at = min(expires_at, parent.expires_at) if expires_at is not None else parent.expires_at
    token = Token(id=new_token_id(), digest=token_digest(secret), user_id=user.id, kind=kind, expires_at=expires_at,
                  parent_id=parent.id if parent is not None else None)
    session.add(token)
    return IssuedToken(secret=secret, id=token.id, kind=kind, expires_at=expires_at)


def authenticate_password(session: Session, name: str, password: str) -> User:
    user = session.scalar(sa.select(User).where(User.name == name, User.deleted_at.is_(None)))
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
    if token.parent_id is not None:
        parent = session.get(Token, token.parent_id)
        if parent is None or parent.revoked_at is not None:
            raise AuthError("the token this session was made from has been revoked",
                            hint="log in again with 'hfit login'")
    user = session.get(User, token.user_id)
    if user is None or user.disabled or user.deleted_at is not None:
        raise AuthError("the token's user is disabled")
    token.last_used_at = now
    return user, token


def revoke_token(session: Session, token_id: str) -> Token:
    """Revoke a token and the session tokens exchanged for it."""
    token = session.get(Token, token_id)
    if token is None:
        raise NotFound(f"no token with id {token_id[:40]!r}", hint="'hfit admin list-users' shows token ids")
    now = utcnow()
    token.revoked_at = token.revoked_at or now
    for child in session.scalars(sa.select(Token).where(Token.parent_id == token.id, Token.revoked_at.is_(None))):
        child.revoked_at = now
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
    return list(session.scalars(sa.select(User).where(User.deleted_at.is_(None)).order_by(User.name)))
