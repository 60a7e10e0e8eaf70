"""Sign-in for both clients: session cookies for pages, bearer JWTs for the API.

Flask-Login gives one ``current_user``: the session when there is no Authorization header,
otherwise the bearer token alone (a request carrying a token never falls back to the cookie).
"""
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user, user_logged_in
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from soonish.field_limits import DISPLAY_NAME_MAX
from soonish.i18n import _, _l
from soonish.models import User, db
from soonish.services import accounts, api_keys
from soonish.web.api.base import API_PREFIX
from soonish.web.extensions import api, csrf, login_manager
from soonish.web.errors import link_page, refusal_kept
from soonish.web.htmx import render_page
from soonish.web.limits import authenticate_within_limits
from soonish.web.tokens import user_from_token

bp = Blueprint("auth", __name__)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


# The token epoch a session was signed in under; a session of an older epoch is signed out.
SESSION_EPOCH = "token_epoch"


@user_logged_in.connect
def remember_token_epoch(_app, user: User) -> None:
    session[SESSION_EPOCH] = user.token_epoch


@login_manager.user_loader
def load_user_from_session(user_id: str) -> User | None:
    if bearer_token() is not None:
        return None  # a bearer request is judged by its token only
    user = db.session.get(User, int(user_id))
    if user is None or user.erased_at is not None or session.get(SESSION_EPOCH, 0) != user.token_epoch:
        return None  # signed out everywhere (or reset, or deleted) since this session began
    return user


@login_manager.request_loader
def load_user_from_bearer(req) -> User | None:
    token = bearer_token()
    if token and api_keys.is_api_key(token):
        key = api_keys.key_for(token)
        g.api_key = key  # the views' scope checks read it
        return key.user if key else None
    return user_from_token(token) if token else None


@login_manager.unauthorized_handler
def unauthorized():
    if request.path.startswith("/api/"):
        response = jsonify(error={"code": "unauthorized", "message": _("Sign in or send a valid bearer token."), "fields": {}})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    flash(_("Please sign in to continue."), "info")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def protect_cookie_requests() -> None:
    """CSRF for every state change that a session cookie authenticates.

    Pages always need the token (it also guards the login form). An API call needs it only when
    it rides on a signed-in session: bearer calls and anonymous calls carry no ambient credential.
    """
    if bearer_token() is not None:
        return
    if request.path.startswith("/api/") and "_user_id" not in session:
        return
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "csrf_exempt", False):
        return
    if getattr(view, "shared_page_form", False) and "_user_id" not in session and _shared_page_token_holds():
        return
    csrf.protect()


# The shared anonymous event page (web/anonymous_page.py) is answered from memory, the same bytes
# for every visitor, with no session: its forms carry this signed token instead of a
# session-bound one. A form only visitors without an account send (a follow by email) carries no
# ambient credential to forge, as an anonymous API call; the token only proves the page was ours
# and recent. With a signed-in session, the session's own token is needed as everywhere.
SHARED_PAGE_TOKEN_SALT = "shared-page-form"


def shared_page_token() -> str:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SHARED_PAGE_TOKEN_SALT).dumps(0)


def _shared_page_token_holds() -> bool:
    token = request.form.get("csrf_token") or request.headers.get("X-CSRFToken") or ""
    try:
        URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SHARED_PAGE_TOKEN_SALT).loads(
            token, max_age=current_app.config["WTF_CSRF_TIME_LIMIT"])
    except BadData:
        return False
    return True


def shared_page_form(view):
    """For a form the shared anonymous page carries (see ``shared_page_token``)."""
    view.shared_page_form = True
    return view


@bp.app_errorhandler(CSRFError)
def form_expired(error: CSRFError):
    """A refused CSRF token nearly always means a form left open past its session (a browser
    restarted, a sign-out in another tab): say so plainly and lead back to the form."""
    if request.path.startswith(API_PREFIX):
        return api.handle_http_exception(error)
    return render_page("form_expired.html", "_form_expired.html", status=error.code, back=_form_page())


def _form_page() -> str:
    """Where the refused form lives: the page it was sent from, else its own URL when that is a
    page (the event form posts to itself), else the home page."""
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host and referrer.path.startswith("/"):
        return referrer.path + (f"?{referrer.query}" if referrer.query else "")
    try:
        current_app.url_map.bind_to_environ(request.environ).match(request.path, method="GET")
    except HTTPException:
        return url_for("events.home")
    return request.full_path.rstrip("?")


def csrf_exempt(view):
    """For views whose URL carries its own signed proof (one-click unsubscribe links)."""
    view.csrf_exempt = True
    return view


def one_click_link(bp: Blueprint, rule: str, asks: Callable[[str], object], does: Callable[[str], object]) -> None:
    """A mail's signed one-click link (RFC 8058), ``rule`` taking its ``token``: opening it only
    asks (``asks``: link scanners follow GET links); the page's button, or the mail provider's own
    one-click POST, does it (``does``), with no CSRF token: the signed token is the proof. Both are
    link pages, each named in the blueprint as its function is."""
    bp.add_url_rule(rule, asks.__name__, link_page(asks), methods=["GET"])
    bp.add_url_rule(rule, does.__name__, csrf_exempt(link_page(does)), methods=["POST"])


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class RegisterForm(FlaskForm):
    display_name = StringField(_l("Name"), validators=[Length(max=DISPLAY_NAME_MAX)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Email()])
    password = PasswordField(
        _l("Password"), validators=[DataRequired(), Length(min=accounts.MIN_PASSWORD_LENGTH)]
    )
    confirm = PasswordField(_l("Repeat password"), validators=[EqualTo("password", _l("Passwords differ."))])


def _safe_next(default: str) -> str:
    target = request.args.get("next", "")
    parts = urlsplit(target)
    # Only same-site paths: never an open redirect.
    if target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return default


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = RegisterForm()
    if form.validate_on_submit():
        with refusal_kept(form):
            registration = accounts.register(form.email.data, form.password.data, form.display_name.data or "")
            if registration.user is None:
                flash(_("You already follow events with this address. We sent it a link: open it to "
                      "finish your account, and your subscriptions come with it."), "info")
                return redirect(url_for("auth.login"))
            login_user(registration.user)
            flash(_("Welcome to Soonish! Your account is ready. We sent a link to confirm your email."), "success")
            return redirect(_safe_next(url_for("events.dashboard")))
    return render_template("auth/register.html", form=form)


class SetPasswordForm(FlaskForm):
    password = PasswordField(
        "Choose a password", validators=[DataRequired(), Length(min=accounts.MIN_PASSWORD_LENGTH)]
    )


@bp.route("/verify/<token>", methods=["GET", "POST"])
@link_page
def verify(token):
    """The link in a verify mail: proves the address, and lets an anonymous follower set a password."""
    user = accounts.user_from_verify_link(token)
    if user.password_hash is not None:
        accounts.verify_email(user)
        flash(_("Your email is confirmed."), "success")
        return redirect(url_for("events.dashboard" if current_user.is_authenticated else "auth.login"))
    form = SetPasswordForm()
    if form.validate_on_submit():
        login_user(accounts.verify_email(user, form.password.data))
        flash(_("Your account is ready, with the events you already follow."), "success")
        return redirect(url_for("subscriptions.mine"))
    return render_template("auth/set_password.html", form=form, user=user)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate_within_limits(form.email.data, form.password.data)
        if user is None:
            form.password.errors.append(_("That email and password don't match an account."))
        else:
            login_user(user)
            return redirect(_safe_next(url_for("events.dashboard")))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("events.home"))


def current_user_or_none() -> User | None:
    return current_user if current_user.is_authenticated else None
