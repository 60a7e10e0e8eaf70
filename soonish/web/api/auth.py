"""API sign-up and bearer tokens."""
from flask_smorest import abort

from soonish.services import accounts
from soonish.web.limits import authenticate_within_limits
from soonish.web.tokens import issue_token
from soonish.web.api.base import ApiBlueprint
from soonish.web.api.schemas import MessageOut, RegisterIn, TokenIn, TokenOut, UserOut

bp = ApiBlueprint("api_auth", __name__, url_prefix="/api/v1/auth", description="Accounts and tokens",
                  idempotent=False)


@bp.post("/register", body=RegisterIn, status=201, response=UserOut, errors=[400, 409])
@bp.alt_response(202, schema=MessageOut, description="The address follows events already: a link to claim it was mailed")
def register(data):
    registration = accounts.register(data["email"], data["password"], data["display_name"])
    if registration.user is None:
        return {"message": "This address already follows events on Soonish. We mailed it a link to finish creating the account."}, 202
    return registration.user


@bp.post("/token", body=TokenIn, response=TokenOut, errors=[400, 401])
def token(data):
    """Exchange email and password for a signed bearer token. Failed attempts are limited per
    account and IP, and per IP (429 with Retry-After); successful ones are not."""
    user = authenticate_within_limits(data["email"], data["password"])
    if user is None:
        abort(401, message="Wrong email or password.")
    access_token, lifetime = issue_token(user)
    return {"access_token": access_token, "token_type": "Bearer", "expires_in": lifetime}
