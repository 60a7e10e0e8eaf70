"""A user's channels over JSON."""
from flask_login import current_user

from soonish.services import integrations as integration_service
from soonish.services import lists
from soonish.web.api.access import authorized
from soonish.web.api.base import ApiBlueprint
from soonish.web.api.paging import LINK_HEADER, PageArgs, page_schema, paged
from soonish.web.api.schemas import IntegrationIn, IntegrationOut, IntegrationPatch, TestResultOut

bp = ApiBlueprint("api_integrations", __name__, url_prefix="/api/v1/integrations", description="Your channels")
IntegrationPage = page_schema(IntegrationOut, "IntegrationPage")


@bp.get("", access=authorized("channels:write"), query=PageArgs, response=IntegrationPage, headers=LINK_HEADER,
        errors=[422])
def list_integrations(args):
    return paged(lists.my_integrations(current_user, args["limit"], args.get("cursor")))


@bp.post("", access=authorized("channels:write"), body=IntegrationIn, status=201, response=IntegrationOut,
         errors=[400])
def add_integration(data):
    """Add a channel: a catalogue type with its fields (the server builds the Apprise URL), or
    a raw Apprise URL. Bad values get a 422 naming each field (``fields.<name>``). A catalogue
    type is sent a test message first and saved only if it went through: a service that refuses
    it (or can't be reached) gets a 422 naming its first field with the reason, and nothing is
    saved. Type `email` (fields: `address`) mails that address a verification link instead: the
    channel's state is `waiting_for_verification`, and it gets nothing, until the link is opened
    and confirmed."""
    if "type" in data:
        return integration_service.add_typed_integration(
            current_user, data["type"], data.get("field_values") or {}, data["name"], data["tag"], test_first=True)
    return integration_service.add_integration(current_user, data["name"], data["url"], data["tag"])


@bp.get("/<int:integration_id>", access=authorized("channels:write"), response=IntegrationOut, errors=[404])
def get_integration(integration_id):
    return integration_service.get_integration(current_user, integration_id)


@bp.patch("/<int:integration_id>", access=authorized("channels:write"), body=IntegrationPatch,
          response=IntegrationOut, errors=[400, 404])
def update_integration(data, integration_id):
    return integration_service.update_integration(current_user, integration_id, data)


@bp.delete("/<int:integration_id>", access=authorized("channels:write"), status=204, errors=[404])
def delete_integration(integration_id):
    integration_service.delete_integration(current_user, integration_id)


@bp.post("/<int:integration_id>/resend-verification", access=authorized("channels:write"), response=IntegrationOut,
         errors=[404])
def resend_verification(integration_id):
    """Mail an email channel's verification link again. 409 when it needs none (verified, or
    not an email channel); 429 with Retry-After within EMAIL_CHANNEL_RESEND_SECONDS (5 min) of
    the last one."""
    return integration_service.resend_verification(current_user, integration_id)


@bp.post("/<int:integration_id>/test", access=authorized("channels:write"), response=TestResultOut, errors=[404])
def send_test(integration_id):
    """Send a test message now and report whether it was delivered."""
    error = integration_service.send_test(current_user, integration_id)
    return {"delivered": error is None, "error": error}
