"""Composition root: builds the detection service of a function, and its readers, from its configuration.

Nothing here runs at import time, and the detectors are imported when a service is built, only its family's
(:mod:`warden.detectors`). Services are cached per (configuration, family) and readers per
configuration, so a warm Lambda reuses its clients and a local run against a different endpoint gets
fresh ones. Every detector function builds its service here, whatever its family: the registry selects
the family's detectors.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from botocore.config import Config

from warden.adapters.dynamodb_state import DynamoDBStateStore
from warden.adapters.eventbridge import EventBridgeFindingPublisher
from warden.adapters.sqs import SqsDeadLetterSink
from warden.config import DetectorConfig
from warden.detectors import REGISTRY
from warden.models import Family
from warden.service import DetectionService

if TYPE_CHECKING:
    from warden.adapters.s3_invocation_logs import S3InvocationLogReader

IDEMPOTENCY_SECONDS = 3600
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=10)


def _clients(config: DetectorConfig, session: boto3.session.Session) -> Callable[[str], Any]:
    def client(name: str) -> Any:
        return session.client(name, endpoint_url=config.endpoint_url, config=_CLIENT_CONFIG)  # type: ignore[call-overload]

    return client


@lru_cache(maxsize=8)
def invocation_log_reader(config: DetectorConfig) -> S3InvocationLogReader:
    """Reads invocation-log objects from S3 (the function's role may read the invocation-log bucket only).

    Imported here, not with the module: only the invocation function reads objects.
    """
    from warden.adapters.s3_invocation_logs import S3InvocationLogReader

    session = boto3.session.Session(region_name=config.region)
    return S3InvocationLogReader(_clients(config, session)("s3"))


@lru_cache(maxsize=8)
def detection_service(config: DetectorConfig, family: Family) -> DetectionService:
    session = boto3.session.Session(region_name=config.region)
    client = _clients(config, session)

    once: Callable[[Callable[..., dict[str, Any]], Any], Callable[..., dict[str, Any]]] | None = None
    if config.idempotency_table:
        store = DynamoDBPersistenceLayer(table_name=config.idempotency_table, boto3_session=session)
        idempotency = IdempotencyConfig(event_key_jmespath="id", expires_after_seconds=IDEMPOTENCY_SECONDS)

        def once(fn: Callable[..., dict[str, Any]], context: Any) -> Callable[..., dict[str, Any]]:
            if context is not None:
                idempotency.register_lambda_context(context)
            return idempotent_function(  # type: ignore[no-any-return]
                data_keyword_argument="event", persistence_store=store, config=idempotency
            )(fn)

    return DetectionService(
        detectors=REGISTRY.for_family(family),
        state=DynamoDBStateStore(client("dynamodb"), config.state_table),
        publisher=EventBridgeFindingPublisher(client("events"), config.findings_bus),
        dead_letters=SqsDeadLetterSink(client("sqs"), config.dead_letter_queue_url),
        self_principals=frozenset(config.self_principals),
        once=once,
        max_event_age=config.max_event_age,
        max_clock_skew=config.max_clock_skew,
        settings=config.settings,
        routes=config.routes,
    )
