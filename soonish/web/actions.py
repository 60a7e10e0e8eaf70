"""Buttons on the signed-in person's own pages that do one thing and go back, saying what was
done (remove a channel, revoke a key, switch a feed off): declared a line each in a table
(``add_actions``) instead of a view each, so every one of them signs in, acts, tells and
redirects the same way. A refusal shows the error page, as any view's does."""
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, flash, redirect, url_for
from flask_login import current_user, login_required


@dataclass(frozen=True)
class Action:
    rule: str  # the URL it is POSTed to, below the blueprint's prefix
    endpoint: str  # its name in the blueprint, as templates url_for it
    act: Callable[..., Any]  # act(current_user, the URL's value if it has one): what it acted on
    said: Callable[[Any], str]  # the flashed message, given what act returned
    back: str  # the page to go back to: an endpoint, given those of the URL's values it takes
    category: str = "info"


def add_actions(bp: Blueprint, *actions: Action) -> None:
    for action in actions:
        bp.add_url_rule(action.rule, action.endpoint, login_required(_view(action)), methods=["POST"])


def _view(action: Action):
    def view(**values):
        done = action.act(current_user, *values.values())
        flash(action.said(done), action.category)
        return redirect(url_for(action.back, **{name: value for name, value in values.items() if name in _arguments(action.back)}))
    return view


def _arguments(endpoint: str) -> set[str]:
    return {name for rule in current_app.url_map.iter_rules(endpoint) for name in rule.arguments}
