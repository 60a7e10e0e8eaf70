"""API sign-up and bearer tokens."""
from flask_smorest import abort

from ...services import ServiceError, accounts
from ..limits import login_limit
from ..tokens import issue_token
from .base import ApiBlueprint, service_error_response
from .schemas import RegisterIn, TokenIn, TokenOut, UserOut

bp = ApiBlueprint("api_auth", __name__, url_prefix="/api/v1/auth", description="Accounts and tokens")
bp.register_error_handler(ServiceError, service_error_response)


@bp.post("/register")
@bp.arguments(RegisterIn)
@bp.response(201, UserOut)
@bp.errors(400, 409)
def register(data):
    return accounts.register(data["email"], data["password"], data["display_name"])


@bp.post("/token")
@login_limit
@bp.arguments(TokenIn)
@bp.response(200, TokenOut)
@bp.errors(400, 401)
def token(data):
    """Exchange email and password for a signed bearer token."""
    user = accounts.authenticate(data["email"], data["password"])
    if user is None:
        abort(401, message="Wrong email or password.")
    access_token, lifetime = issue_token(user)
    return {"access_token": access_token, "token_type": "Bearer", "expires_in": lifetime}
