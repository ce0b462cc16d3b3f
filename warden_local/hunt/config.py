"""The deployment a hunt judges as: the detector functions' own configuration, read from the environment.

Live, each detector function reads its detection settings (the stack's account, trusted accounts,
invocation-log bucket and group, Warden's own resources and roles, the routing table) from environment
variables set by template.yaml (:class:`warden.config.DetectorConfig`). A hunt reads the same variables,
so that ``warden hunt`` judges history as a given deployment would: export them as your stack's
functions have them (``aws lambda get-function-configuration``) and the hunt raises the same findings,
with the same ids. Unset, every setting has its default (the account a record was made in is trusted,
nothing is Warden's own). The tables, bus and queue a function writes to mean nothing to a hunt.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from warden.config import DetectorConfig

UNUSED = "-"


class HuntConfig(DetectorConfig):
    """DetectorConfig without the AWS resources a hunt never touches (its detection settings are the same)."""

    state_table: str = Field(default=UNUSED, alias="WARDEN_STATE_TABLE")
    findings_bus: str = Field(default=UNUSED, alias="WARDEN_FINDINGS_BUS")
    dead_letter_queue_url: str = Field(default=UNUSED, alias="WARDEN_DEAD_LETTER_QUEUE_URL")
    region: str = Field(default=UNUSED, alias="AWS_REGION")


def hunt_config(environ: Mapping[str, str] | None = None) -> HuntConfig:
    """The deployment's detection settings from ``environ`` (default: this process's environment)."""
    return HuntConfig.from_environ(environ)
