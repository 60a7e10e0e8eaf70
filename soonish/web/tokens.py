"""Signed JWT bearer tokens for API clients.

One kind of token, an access token that lives JWT_EXPIRES_SECONDS (an hour), and no refresh
token: every request already loads the user to check the token's ``epoch`` claim against the
user's token epoch, so "sign out everywhere", a password reset or a deletion stops every older
token at once. A short access token plus a refresh token would buy revocation that this check
already gives, at the price of a second secret for every client to store and rotate.
"""
from datetime import datetime, timedelta, timezone

import jwt
from flask import current_app

from soonish.models import User, db

ALGORITHM = "HS256"


def issue_token(user: User) -> tuple[str, int]:
    """A signed access token for ``user`` and its lifetime in seconds."""
    lifetime = int(current_app.config["JWT_EXPIRES_SECONDS"])
    now = datetime.now(timezone.utc)
    claims = {"sub": str(user.id), "iat": now, "exp": now + timedelta(seconds=lifetime), "typ": "access",
              "epoch": user.token_epoch}
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
    user = db.session.get(User, int(claims["sub"]))
    # Tokens from before the user's last revoke (or reset, or deletion) carry an older epoch.
    if user is None or user.erased_at is not None or claims.get("epoch", 0) != user.token_epoch:
        return None
    return user
