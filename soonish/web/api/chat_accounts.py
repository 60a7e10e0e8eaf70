"""A user's chat accounts (Slack, Discord) over JSON: their DMs are channels like any other."""
from flask_login import current_user

from soonish.services import chat, lists
from soonish.web.api.access import authorized
from soonish.web.api.base import ApiBlueprint
from soonish.web.api.paging import LINK_HEADER, PageArgs, page_schema, paged
from soonish.web.api.schemas import ChatAccountOut, ConnectCodeIn, ConnectCodeOut

bp = ApiBlueprint("api_chat_accounts", __name__, url_prefix="/api/v1/chat-accounts",
                  description="Your Slack and Discord accounts")

ChatAccountPage = page_schema(ChatAccountOut, "ChatAccountPage")


@bp.get("", access=authorized("channels:write"), query=PageArgs, response=ChatAccountPage, headers=LINK_HEADER,
        errors=[422])
def list_chat_accounts(args):
    """The chat accounts that act as you (connected, or linked with `link <email>`), oldest
    first, a page at a time; route a follow to one's DMs with the selector `{"chat_identity_id": id}`."""
    return paged(lists.my_chat_accounts(current_user, args["limit"], args.get("cursor")))


@bp.post("/connect-codes", access=authorized("channels:write"), body=ConnectCodeIn, status=201,
         response=ConnectCodeOut)
def new_connect_code(data):
    """A one-time code (10 minutes) to type in the chat as `/soonish connect <code>`: that chat
    account then acts as you, no mail needed. A new code replaces your unused one. 422 on
    `platform` when that platform's bot doesn't run here."""
    code = chat.new_connect_code(current_user, data["platform"])
    return {"platform": code.platform.value, "code": code.code, "command": code.command, "expires_at": code.expires_at}


@bp.delete("/<int:identity_id>", access=authorized("channels:write"), status=204, errors=[404])
def remove_chat_account(identity_id):
    """Unlink a chat account: its DMs get nothing more (a follow routed only there goes back to
    your email)."""
    chat.unlink(current_user, identity_id)
