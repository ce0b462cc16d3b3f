"""Notifications beyond SNS: the playbooks' messages read into named fields and posted to Slack.

The names below are imported from their modules when first asked for (PEP 562): the functions that import
only a part of this package (the response policy's composer, Slack's approvals) do not build the
notification model with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warden.notify.notification import Notification, parse_notification
    from warden.notify.slack import build_message, limit_violations

__all__ = ["Notification", "build_message", "limit_violations", "parse_notification"]


def __getattr__(name: str) -> object:
    if name in {"Notification", "parse_notification"}:
        from warden.notify import notification

        return getattr(notification, name)
    if name in {"build_message", "limit_violations"}:
        from warden.notify import slack

        return getattr(slack, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
