"""Notifications beyond SNS: the playbooks' messages read into named fields and posted to Slack."""

from warden.notify.notification import Notification, parse_notification
from warden.notify.slack import build_message, limit_violations

__all__ = ["Notification", "build_message", "limit_violations", "parse_notification"]
