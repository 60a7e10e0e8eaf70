"""Flask extensions, created unbound and bound to each app in create_app()."""
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from soonish.web.api.base import SoonishApi

login_manager = LoginManager()
csrf = CSRFProtect()
migrate = Migrate()
api = SoonishApi()
