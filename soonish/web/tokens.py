"""Signed JWT bearer tokens for API clients."""
from datetime import datetime, timedelta, timezone

import jwt
from flask import current_app

from ..models import User, db

ALGORITHM = "HS256"


def issue_token(user: User) -> tuple[str, int]:
    """A signed access token for ``user`` and its lifetime in seconds."""
    lifetime = int(current_app.config["JWT_EXPIRES_SECONDS"])
    now = datetime.now(timezone.utc)
    claims = {"sub": str(user.id), "iat": now, "exp": now + timedelta(seconds=lifetime), "typ": "access"}
    return jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm=ALGORITHM), lifetime


def user_from_token(token: str) -> User | None:
    """The token's user, or None when it is forged, expired or malformed."""
    try:
        claims = jwt.decode(
            token,
            current_app.config["SECRET_KEY"],
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub"]},
        )
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != "access" or not str(claims["sub"]).isdigit():
        return None
    return db.session.get(User, int(claims["sub"]))
