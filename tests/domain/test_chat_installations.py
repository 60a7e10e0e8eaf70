"""Chat installations and OAuth state, with a database and no Temporal: tokens kept encrypted and
rotated with the keys, an org-wide install serving its workspaces, removal once, state once."""
from datetime import timedelta

import pytest

from soonish.cli import rotate_keys
from soonish.crypto import FieldCipher, new_key
from soonish.domain.delivery import planning
from soonish.domain import chat_installations as installations
from soonish.domain.chat_installations import InstalledBot
from soonish.models import (
    ChatIdentity, ChatIdentityKind, ChatInstallation, OAuthState, Subscription, SubscriptionSelector,
    SubscriptionStatus, User, db, utcnow,
)

OLD_KEY, NEW_KEY = new_key(), new_key()


@pytest.fixture
def cipher(domain_app) -> FieldCipher:
    domain_app.config["ENCRYPTION_KEYS"] = OLD_KEY
    return FieldCipher([OLD_KEY])


def slack(workspace: str, token: str, **fields) -> InstalledBot:
    return InstalledBot("slack", workspace, f"{workspace} club", bot_token=token, **fields)


def test_an_installation_keeps_its_token_encrypted_and_a_reinstall_replaces_it(cipher):
    installations.save(slack("T1", "xoxb-one"), cipher)
    db.session.commit()
    row = db.session.query(ChatInstallation).one()
    assert b"xoxb-one" not in row.bot_token_encrypted and installations.bot_token(row, cipher) == "xoxb-one"

    installations.remove("slack", ["T1"], installations.UNINSTALLED)
    installations.save(slack("T1", "xoxb-again"), cipher)
    db.session.commit()
    row = db.session.query(ChatInstallation).one()
    assert row.is_active and installations.bot_token(row, cipher) == "xoxb-again"


def test_an_org_wide_install_serves_each_of_its_workspaces_and_goes_with_them(cipher):
    installations.save(slack("E1", "xoxb-org", enterprise_id="E1", is_enterprise_install=True), cipher,
                       workspaces=[("T1", "One"), ("T2", "Two")])
    db.session.commit()
    assert installations.find("slack", "T2").workspace_name == "Two"
    # A workspace granted later, not mapped yet, is served by its organization's install.
    later = installations.find("slack", "T9", enterprise_id="E1")
    assert later is not None and installations.bot_token(later, cipher) == "xoxb-org"

    removal = installations.remove_workspace("slack", "T2", installations.TOKEN_REFUSED)
    assert {i.workspace_id for i in removal.installations} == {"E1", "T1", "T2"}
    assert [i.workspace_id for i in removal.to_tell] == ["E1"]  # the installer hears once


def test_a_removal_happens_once_and_ends_the_workspace_channel_follows(cipher, event):
    installations.save(slack("T1", "xoxb-one"), cipher)
    channel = ChatIdentity(platform="slack", workspace_id="T1", external_user_id="C1", kind=ChatIdentityKind.CHANNEL,
                           user=User(display_name="#general"))
    person = ChatIdentity(platform="slack", workspace_id="T1", external_user_id="U1", user=User(display_name="ann"))
    follows = [Subscription(event=event, user=i.user, selectors=[SubscriptionSelector(chat_identity=i)])
               for i in (channel, person)]
    db.session.add_all(follows)
    db.session.commit()

    first = installations.remove("slack", ["T1"], installations.UNINSTALLED)
    second = installations.remove("slack", ["T1"], installations.TOKENS_REVOKED)
    db.session.commit()
    assert [i.workspace_id for i in first.installations] == ["T1"] and second.installations == []
    assert [s.user_id for s in first.ended] == [channel.user_id]
    assert [s.status for s in follows] == [SubscriptionStatus.UNSUBSCRIBED, SubscriptionStatus.ACTIVE]
    row = db.session.query(ChatInstallation).one()
    assert row.removed_reason == installations.UNINSTALLED and row.bot_token_encrypted is None

    # Planning: the person's DM in a removed workspace is addressed as removed, with no token.
    bots = planning.workspace_bots([person], cipher)
    address = planning.chat_address(person, bots)
    assert address.removed and address.token == ""


def test_planning_gives_each_workspace_its_own_token_and_the_single_token_to_the_rest(cipher):
    installations.save(slack("T1", "xoxb-one"), cipher)
    installations.save(slack("T2", "xoxb-two"), cipher)
    db.session.commit()
    people = [ChatIdentity(platform="slack", workspace_id=w, external_user_id="U1") for w in ("T1", "T2", "T0OLD")]
    bots = planning.workspace_bots(people, cipher)
    addresses = [planning.chat_address(p, bots) for p in people]
    assert [(a.workspace_id, a.token, a.removed) for a in addresses] == [
        ("T1", "xoxb-one", False), ("T2", "xoxb-two", False), ("T0OLD", "", False)]
    assert "xoxb" not in repr(addresses)  # a token never shows in a repr (logs, errors)


def test_rotate_keys_re_encrypts_installation_tokens(cipher, domain_app):
    installations.save(slack("T1", "xoxb-one"), cipher)
    db.session.commit()
    domain_app.config["ENCRYPTION_KEYS"] = f"{NEW_KEY},{OLD_KEY}"
    output = domain_app.test_cli_runner().invoke(rotate_keys)
    assert "re-encrypted 1 chat installation tokens" in output.output, output.output
    db.session.expire_all()
    row = db.session.query(ChatInstallation).one()
    assert FieldCipher([NEW_KEY]).decrypt(row.bot_token_encrypted) == "xoxb-one"  # readable with the new key alone


def test_a_state_is_good_once_for_its_purpose_until_it_expires(domain_app):
    state = installations.issue_state("slack_install", 600)
    db.session.commit()
    assert installations.consume_state(state, "discord_install") is None
    assert installations.consume_state(state, "slack_install") is not None
    assert installations.consume_state(state, "slack_install") is None  # used
    assert installations.consume_state("never-issued", "slack_install") is None
    assert installations.consume_state(None, "slack_install") is None

    old = installations.issue_state("slack_install", 600)
    db.session.commit()
    row = db.session.query(OAuthState).filter(OAuthState.used_at.is_(None)).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert installations.consume_state(old, "slack_install") is None
    assert state not in {r.state_hash for r in db.session.query(OAuthState)}  # only hashes are kept


def test_a_workspace_granted_to_an_org_wide_install_gets_its_token_and_a_revoked_one_stops(cipher):
    installations.save(slack("E1", "xoxb-org", enterprise_id="E1", is_enterprise_install=True), cipher,
                       workspaces=[("T1", "One")])
    db.session.commit()
    [granted] = installations.grant("slack", "E1", [("T7", "")])
    db.session.commit()
    assert granted.is_active and installations.bot_token(granted, cipher) == "xoxb-org"
    assert installations.grant("slack", "E404", [("T8", "")]) == []  # no such organization install

    removal = installations.remove("slack", ["T7"], installations.ACCESS_REVOKED)
    assert [i.workspace_id for i in removal.installations] == ["T7"] and removal.to_tell == []
    assert installations.find("slack", "T1").is_active  # the organization's other workspaces go on
