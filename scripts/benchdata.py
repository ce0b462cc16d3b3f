"""Deterministic CloudTrail data for the benchmark: log files as CloudTrail writes them to S3.

Why generated: the benchmark must measure the same thing on every machine and every run, on a mix of
events shaped like an account's real trail (mostly other services' read calls, a few percent Bedrock and
IAM), with attacks inside so that hunting has something to find. The files are what CloudTrail delivers:
gzipped ``{"Records": [...]}`` objects, one per region and five minutes, under
``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<random>.json.gz``.

How it stays fast and small: records are built from templated dicts by a seeded generator, five minutes
at a time, and written as soon as a slot is complete (orjson, gzip level 5), so a million records never
sit in memory. The attacks are the project's own positive sequences (``events/sequences``), their
CloudTrail records re-timed into the data; they are read, not copied here.

A data set is cached under ``.warden/bench-data/<GENERATOR_VERSION>/<name>/``; its ``manifest.json`` is
written last, so a set without one is incomplete and is generated again. Change ``GENERATOR_VERSION``
whenever the output changes.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
import string
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
GENERATOR_VERSION = "1"
SIZES = {"100k": 100_000, "1m": 1_000_000}
SEED = 8
ACCOUNT = "123456789012"
"""The account of the project's samples: the attack sequences are recorded in it."""
OUTSIDE_ACCOUNT = "210987654321"
START = datetime(2026, 11, 16, tzinfo=UTC)
SLOT = timedelta(minutes=5)
RECORDS_PER_SLOT = 1_000
"""Records per five minutes across regions (about 290,000 a day): a busy production account."""
REGIONS = (("us-east-1", 0.80), ("us-west-2", 0.15), ("eu-west-1", 0.05))
GZIP_LEVEL = 5
ATTACKS = {
    # name -> (sequence file in events/sequences, where in the data its first record goes, as a fraction)
    "llmjacking-stolen-key": ("llmjacking__positive__logging_check_long_term_key.json", 0.55),
    "admin-policy-attached": ("broad-permissions-granted__positive__admin_attached_to_role.json", 0.35),
    "trust-policy-backdoor": ("external-trust-policy__positive__update_adds_outside_account.json", 0.05),
}
SEQUENCES = ROOT / "events" / "sequences"
_KEY_CHARS = string.ascii_uppercase + string.digits
_SUFFIX_CHARS = string.ascii_letters + string.digits


@dataclass(frozen=True)
class DataSet:
    """A generated data set on disk and what is in it (the manifest)."""

    path: Path
    manifest: dict[str, Any]

    @property
    def records(self) -> int:
        return int(self.manifest["records"])

    def files(self) -> list[Path]:
        """The log files in time order, regions interleaved (the key layout sorts by region first)."""
        return sorted(self.path.glob("AWSLogs/**/*.json.gz"), key=_file_time_and_region)


def _file_time_and_region(path: Path) -> tuple[str, str]:
    """(YYYYMMDDTHHMMZ, region) from ``<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<random>.json.gz``."""
    _, _, region, stamp, _ = path.name.split("_")
    return stamp, region


# ---------------------------------------------------------------------------------------------- identities


def _role_session(role: str, session: str, key: str, role_id: str, created: str) -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                "accountId": ACCOUNT,
                "userName": role,
            },
            "attributes": {"creationDate": created, "mfaAuthenticated": "false"},
        },
    }


def _ids(rng: random.Random, prefix: str, length: int = 16) -> str:
    return prefix + "".join(rng.choice(_KEY_CHARS) for _ in range(length))


@dataclass(frozen=True)
class Actor:
    identity: dict[str, Any]
    source_ip: str
    user_agent: str
    vpc_endpoint: str | None = None


def _actors(rng: random.Random) -> dict[str, list[Actor]]:
    """The account's principals: application roles (some call Bedrock), people, CI, AWS services."""
    created = START.strftime("%Y-%m-%dT%H:%M:%SZ")
    sdk = (
        "Boto3/1.35.{v} md/Botocore#1.35.{v} ua/2.0 os/linux#5.10.226-214.880.amzn2.x86_64 md/arch#x86_64 "
        "lang/python#3.12.6 md/pyimpl#CPython exec-env/AWS_ECS_FARGATE cfg/retry-mode#standard Botocore/1.35.{v}"
    )
    java = (
        "aws-sdk-java/2.25.{v} Linux/5.10.226-214.880.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.12+7-LTS Java/17.0.12"
    )
    apps = [
        "orders-service",
        "payments-api",
        "catalog-indexer",
        "inventory-sync",
        "checkout-web",
        "reporting-etl",
        "search-api",
        "notifications-worker",
        "image-resizer",
        "fraud-scoring",
        "ledger-batch",
        "audit-shipper",
    ]
    bedrock_apps = ["rag-api-task", "support-summarizer", "doc-classifier", "chat-assistant", "code-review-bot"]
    actors: dict[str, list[Actor]] = {"app": [], "bedrock_app": [], "human": [], "ci": [], "service": []}
    for n, role in enumerate(apps + bedrock_apps):
        role_id = _ids(rng, "AROA", 17)
        session = uuid.UUID(int=rng.getrandbits(128)).hex[:16]
        agent = (sdk if n % 3 else java).format(v=rng.randrange(10, 40))
        actor = Actor(
            _role_session(role, session, _ids(rng, "ASIA"), role_id, created),
            f"10.{20 + n % 4}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            agent,
            f"vpce-0{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}",
        )
        actors["bedrock_app" if role in bedrock_apps else "app"].append(actor)
    for name in ("alice.nguyen", "bob.martin", "carol.diaz", "dan.kowalski"):
        role_id = _ids(rng, "AROA", 17)
        identity = _role_session(
            "AWSReservedSSO_PowerUserAccess_4f2b1c0d9e8a7b6c", name, _ids(rng, "ASIA"), role_id, created
        )
        identity["sessionContext"]["attributes"]["mfaAuthenticated"] = "true"
        agent = "aws-cli/2.17.{v} md/awscrt#0.20.11 ua/2.0 os/macos#23.5.0 md/arch#arm64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off md/command#ec2.describe-instances"  # noqa: E501
        actors["human"].append(
            Actor(identity, f"198.51.100.{rng.randrange(1, 255)}", agent.format(v=rng.randrange(1, 30)))
        )
    for name in ("deploy-pipeline", "terraform-plan"):
        identity = _role_session(
            name, f"GitHubActions-{rng.randrange(10**9)}", _ids(rng, "ASIA"), _ids(rng, "AROA", 17), created
        )
        actors["ci"].append(
            Actor(identity, f"140.82.{rng.randrange(112, 116)}.{rng.randrange(1, 255)}", sdk.format(v=2))
        )
    for service in (
        "ec2.amazonaws.com",
        "lambda.amazonaws.com",
        "ecs-tasks.amazonaws.com",
        "cloudtrail.amazonaws.com",
        "logs.amazonaws.com",
        "autoscaling.amazonaws.com",
        "elasticloadbalancing.amazonaws.com",
    ):
        actors["service"].append(Actor({"type": "AWSService", "invokedBy": service}, service, service))
    return actors


# ---------------------------------------------------------------------------------------------- records

Builder = Callable[[random.Random, Actor, str, str], dict[str, Any]]
"""(rng, actor, region, eventTime) -> the call-specific fields of one record."""


# Each family's calls, in the order the generator draws from them (changing them changes the data: bump the version).
EC2_READS = tuple(
    "DescribeInstances DescribeVolumes DescribeSecurityGroups DescribeNetworkInterfaces DescribeSubnets "  # noqa: SIM905
    "DescribeInstanceStatus DescribeTags".split()
)
S3_READS = tuple(
    "GetBucketLocation ListBuckets GetBucketAcl GetBucketPolicy GetBucketVersioning GetBucketEncryption "  # noqa: SIM905
    "GetBucketTagging".split()
)


def _instance(rng: random.Random) -> str:
    return f"i-0{rng.getrandbits(60):015x}"


def _ec2(rng: random.Random, actor: Actor, region: str, at: str) -> dict[str, Any]:
    name = rng.choice(EC2_READS)
    params: dict[str, Any] = {"maxResults": 1000}
    if name == "DescribeInstances":
        params = {
            "instancesSet": {"items": [{"instanceId": _instance(rng)} for _ in range(rng.randrange(1, 4))]},
            "filterSet": {},
        }
    elif name == "DescribeTags":
        params = {"filterSet": {"items": [{"name": "resource-id", "valueSet": {"items": [{"value": _instance(rng)}]}}]}}
    return {
        "eventSource": "ec2.amazonaws.com",
        "eventName": name,
        "requestParameters": params,
        "readOnly": True,
        "host": f"ec2.{region}.amazonaws.com",
    }


def _s3(rng: random.Random, actor: Actor, region: str, at: str) -> dict[str, Any]:
    name = rng.choice(S3_READS)
    bucket = rng.choice(("acme-prod-artifacts", "acme-prod-logs", "acme-data-lake-raw", "acme-backups-us-east-1"))
    params: dict[str, Any] = {"Host": f"{bucket}.s3.{region}.amazonaws.com", "bucketName": bucket, name[3:].lower(): ""}
    if name == "ListBuckets":
        params = {"Host": f"s3.{region}.amazonaws.com"}
    extra = {
        "SignatureVersion": "SigV4",
        "CipherSuite": "TLS_AES_128_GCM_SHA256",
        "bytesTransferredIn": 0,
        "AuthenticationMethod": "AuthHeader",
        "x-amz-id-2": uuid.UUID(int=rng.getrandbits(128)).hex * 2,
        "bytesTransferredOut": rng.randrange(200, 4000),
    }
    return {
        "eventSource": "s3.amazonaws.com",
        "eventName": name,
        "requestParameters": params,
        "readOnly": True,
        "additionalEventData": extra,
        "host": params["Host"],
        "resources": [{"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
    }


def _kms(rng: random.Random, actor: Actor, region: str, at: str) -> dict[str, Any]:
    name = rng.choice(("Decrypt", "Decrypt", "GenerateDataKey", "Encrypt"))
    key = f"arn:aws:kms:{region}:{ACCOUNT}:key/{uuid.UUID(int=rng.getrandbits(128))}"
    params: dict[str, Any] = {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    if name == "GenerateDataKey":
        params = {"keyId": key, "keySpec": "AES_256"}
    params["encryptionContext"] = {"aws:lambda:FunctionArn": f"arn:aws:lambda:{region}:{ACCOUNT}:function:orders"}
    return {
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "requestParameters": params,
        "readOnly": True,
        "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": key}],
        "host": f"kms.{region}.amazonaws.com",
    }


def _assume_role(rng: random.Random, actor: Actor, region: str, at: str) -> dict[str, Any]:
    role = rng.choice(("orders-service", "lambda-exec-orders", "ecsTaskExecutionRole", "payments-api", "reporting-etl"))
    session = uuid.UUID(int=rng.getrandbits(128)).hex[:20]
    role_id = "AROA" + "".join(rng.choice(_KEY_CHARS) for _ in range(17))
    expires = (datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ") + timedelta(hours=1)).strftime("%b %d, %Y, %I:%M:%S %p")
    return {
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "readOnly": True,
        "requestParameters": {
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
            "roleSessionName": session,
            "durationSeconds": 3600,
        },
        "responseElements": {
            "credentials": {
                "accessKeyId": "ASIA" + "".join(rng.choice(_KEY_CHARS) for _ in range(16)),
                "sessionToken": "IQoJb3JpZ2luX2VjE" + uuid.UUID(int=rng.getrandbits(128)).hex * 4,
                "expiration": expires,
            },
            "assumedRoleUser": {
                "assumedRoleId": f"{role_id}:{session}",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
            },
        },
        "resources": [{"accountId": ACCOUNT, "type": "AWS::IAM::Role", "ARN": f"arn:aws:iam::{ACCOUNT}:role/{role}"}],
        "sharedEventID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "host": f"sts.{region}.amazonaws.com",
    }


def _simple(source: str, names: tuple[str, ...], params: Callable[[random.Random, str], dict[str, Any]]) -> Builder:
    def build(rng: random.Random, actor: Actor, region: str, at: str) -> dict[str, Any]:
        return {
            "eventSource": source,
            "eventName": rng.choice(names),
            "requestParameters": params(rng, region),
            "readOnly": True,
            "host": f"{source.split('.')[0]}.{region}.amazonaws.com",
        }

    return build


_ssm = _simple(
    "ssm.amazonaws.com",
    ("GetParameter", "GetParameters", "GetParametersByPath"),
    lambda rng, r: {"name": f"/prod/app-{rng.randrange(40)}/config", "withDecryption": True},
)
_logs = _simple(
    "logs.amazonaws.com",
    ("CreateLogStream", "DescribeLogGroups", "DescribeLogStreams"),
    lambda rng, r: {
        "logGroupName": f"/aws/lambda/fn-{rng.randrange(60)}",
        "logStreamName": f"2026/11/16/[$LATEST]{rng.getrandbits(128):032x}",
    },
)
_lambda = _simple(
    "lambda.amazonaws.com",
    ("GetFunction20150331v2", "ListFunctions20150331", "GetFunctionConfiguration20150331v2"),
    lambda rng, r: {"functionName": f"arn:aws:lambda:{r}:{ACCOUNT}:function:fn-{rng.randrange(60)}"},
)
_dynamodb = _simple(
    "dynamodb.amazonaws.com",
    ("DescribeTable", "ListTables", "DescribeTimeToLive"),
    lambda rng, r: {"tableName": f"prod-{rng.choice(('orders', 'sessions', 'ledger'))}"},
)
_secrets = _simple(
    "secretsmanager.amazonaws.com",
    ("GetSecretValue", "DescribeSecret"),
    lambda rng, r: {"secretId": f"arn:aws:secretsmanager:{r}:{ACCOUNT}:secret:prod/db-{rng.randrange(9)}"},
)
_ecr = _simple(
    "ecr.amazonaws.com",
    ("GetAuthorizationToken", "BatchGetImage", "GetDownloadUrlForLayer"),
    lambda rng, r: {"registryIds": [ACCOUNT], "repositoryName": f"svc-{rng.randrange(12)}"},
)
_iam_read = _simple(
    "iam.amazonaws.com",
    ("GetRole", "ListRoles", "GetPolicy", "GetPolicyVersion", "ListAttachedRolePolicies"),
    lambda rng, r: {"roleName": f"svc-role-{rng.randrange(30)}"},
)


def _iam_write(rng: random.Random, actor: Actor, region: str, at: str) -> dict[str, Any]:
    """Everyday IAM changes by the pipeline: tags, narrow managed policies, new roles trusting the account."""
    name = rng.choice(("TagRole", "PutRolePolicy", "AttachRolePolicy", "CreateRole"))
    role = f"svc-role-{rng.randrange(30)}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::acme-prod-artifacts/*"}
        ],
    }
    params: dict[str, Any] = {"roleName": role, "tags": [{"key": "team", "value": "platform"}]}
    if name == "PutRolePolicy":
        params = {"roleName": role, "policyName": "read-artifacts", "policyDocument": json.dumps(policy)}
    elif name == "AttachRolePolicy":
        params = {"roleName": role, "policyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"}
    elif name == "CreateRole":
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}
            ],
        }
        params = {"roleName": role + f"-{rng.randrange(1000)}", "assumeRolePolicyDocument": json.dumps(trust)}
    return {
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "requestParameters": params,
        "readOnly": False,
        "host": "iam.amazonaws.com",
    }


_MODELS = (
    "anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "amazon.titan-embed-text-v2:0",
    "meta.llama3-8b-instruct-v1:0",
    "cohere.command-r-v1:0",
)


def _bedrock_runtime(rng: random.Random, actor: Actor, region: str, at: str) -> dict[str, Any]:
    """An application's model call; each application keeps to one model (picked by its address)."""
    model = _MODELS[int(actor.source_ip.rsplit(".", 1)[1]) % len(_MODELS)]
    name = rng.choices(("InvokeModel", "Converse", "ConverseStream", "InvokeModelWithResponseStream"), (60, 28, 8, 4))[
        0
    ]
    return {
        "eventSource": "bedrock.amazonaws.com",
        "eventName": name,
        "requestParameters": {"modelId": model},
        "readOnly": True,
        "host": f"bedrock-runtime.{region}.amazonaws.com",
        "vpcEndpointId": actor.vpc_endpoint,
    }


def _bedrock_control(rng: random.Random, actor: Actor, region: str, at: str) -> dict[str, Any]:
    name = rng.choice(("ListFoundationModels", "GetFoundationModel", "ListInferenceProfiles", "ListGuardrails"))
    params: dict[str, Any] | None = None
    if name == "GetFoundationModel":
        params = {"modelIdentifier": rng.choice(_MODELS)}
    return {
        "eventSource": "bedrock.amazonaws.com",
        "eventName": name,
        "requestParameters": params,
        "readOnly": True,
        "host": f"bedrock.{region}.amazonaws.com",
    }


# (builder, who makes the call, weight per 10,000 records)
MIX: tuple[tuple[str, Builder, tuple[str, ...], int], ...] = (
    ("ec2", _ec2, ("app", "service", "human", "ci"), 1700),
    ("s3", _s3, ("app", "ci", "human"), 1000),
    ("kms", _kms, ("service", "app"), 1600),
    ("sts-by-service", _assume_role, ("service",), 1300),
    ("sts-by-role", _assume_role, ("app", "ci", "human"), 500),
    ("ssm", _ssm, ("app",), 700),
    ("logs", _logs, ("service", "app"), 700),
    ("lambda", _lambda, ("ci", "human", "service"), 400),
    ("dynamodb", _dynamodb, ("app", "ci"), 400),
    ("secretsmanager", _secrets, ("app",), 300),
    ("ecr", _ecr, ("service", "ci"), 300),
    ("iam-read", _iam_read, ("ci", "human"), 250),
    ("iam-write", _iam_write, ("ci",), 50),
    ("bedrock-runtime", _bedrock_runtime, ("bedrock_app",), 360),
    ("bedrock-control", _bedrock_control, ("bedrock_app", "human"), 40),
)
"""The background mix: about 4% Bedrock (model calls by application roles, some control plane) and 3% IAM."""


class _Composer:
    """Builds whole records from the mix; a record's common fields come from its actor and time."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.actors = _actors(rng)
        self.kinds = [m[0] for m in MIX]
        self.weights = [m[3] for m in MIX]
        self.builders = {m[0]: (m[1], m[2]) for m in MIX}

    def record(self, kind: str, region: str, at: str) -> dict[str, Any]:
        rng = self.rng
        builder, who = self.builders[kind]
        actor = rng.choice(self.actors[rng.choice(who)])
        call = builder(rng, actor, region, at)
        host = call.pop("host")
        identity = actor.identity
        service_call = identity["type"] == "AWSService"
        record: dict[str, Any] = {
            "eventVersion": "1.10" if kind.startswith("bedrock") else "1.09",
            "userIdentity": identity,
            "eventTime": at,
            "eventSource": call.pop("eventSource"),
            "eventName": call.pop("eventName"),
            "awsRegion": region,
            "sourceIPAddress": actor.source_ip,
            "userAgent": actor.user_agent,
            "requestParameters": call.pop("requestParameters"),
            "responseElements": call.pop("responseElements", None),
            "requestID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "eventID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "readOnly": call.pop("readOnly"),
            **call,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
        }
        if not service_call:
            record["tlsDetails"] = {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": host,
            }
        if record.get("vpcEndpointId") is None:
            record.pop("vpcEndpointId", None)
        else:
            record["vpcEndpointAccountId"] = ACCOUNT
        return record


# ---------------------------------------------------------------------------------------------- attacks


def attack_records(span: timedelta) -> list[tuple[str, dict[str, Any]]]:
    """The attacks' CloudTrail records, re-timed so that each sequence starts at its place in ``span``.

    Offsets between a sequence's records are kept (the detectors judge them); a sequence that would end after
    the data is moved earlier.
    """
    out: list[tuple[str, dict[str, Any]]] = []
    for name, (file, where) in ATTACKS.items():
        events = json.loads((SEQUENCES / file).read_text())
        details = [e["detail"] for e in events]
        times = [_parse(d["eventTime"]) for d in details]
        first, length = min(times), max(times) - min(times)
        anchor = START + min(span * where, max(timedelta(0), span - length - SLOT))
        for detail, at in zip(details, times, strict=True):
            moved = anchor + (at - first)
            out.append((name, {**detail, "eventTime": moved.strftime("%Y-%m-%dT%H:%M:%SZ")}))
    return sorted(out, key=lambda item: str(item[1]["eventTime"]))


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------- generation


def slots(records: int) -> int:
    return -(-records // RECORDS_PER_SLOT)


def iter_slots(records: int, seed: int = SEED) -> Iterator[tuple[datetime, dict[str, list[dict[str, Any]]]]]:
    """Yield (slot start, {region: records}) five minutes at a time: exactly ``records`` records in all,
    attacks included, each slot's records sorted by time."""
    rng = random.Random(seed)  # noqa: S311  reproducible benchmark data, nothing secret
    composer = _Composer(rng)
    count = slots(records)
    attacks = attack_records(SLOT * count)
    background = records - len(attacks)
    if background < 0:
        raise ValueError(f"{records} records cannot hold the {len(attacks)} attack records")
    names, cumulative = [r[0] for r in REGIONS], [w for _, w in REGIONS]
    pending = list(attacks)
    made = 0
    for n in range(count):
        start = START + SLOT * n
        quota = min(RECORDS_PER_SLOT, background - made) if n < count - 1 else background - made
        made += quota
        base = int(start.timestamp())
        by_region: dict[str, list[dict[str, Any]]] = {r: [] for r in names}
        kinds = rng.choices(composer.kinds, composer.weights, k=quota)
        regions = rng.choices(names, cumulative, k=quota)
        offsets = sorted(rng.randrange(300) for _ in range(quota))
        for kind, region, offset in zip(kinds, regions, offsets, strict=True):
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + offset))
            by_region[region].append(composer.record(kind, region, at))
        end = (start + SLOT).strftime("%Y-%m-%dT%H:%M:%SZ")
        while pending and (pending[0][1]["eventTime"] < end or n == count - 1):  # the last slot takes the rest
            record = pending.pop(0)[1]
            by_region.setdefault(record["awsRegion"], []).append(record)
        for region_records in by_region.values():
            region_records.sort(key=lambda r: str(r["eventTime"]))
        yield start, by_region


def log_key(region: str, start: datetime, rng: random.Random) -> str:
    """The S3 key CloudTrail gives a log file (its random part drawn from ``rng``)."""
    suffix = "".join(rng.choice(_SUFFIX_CHARS) for _ in range(16))
    stamp = start.strftime("%Y%m%dT%H%MZ")
    return (
        f"AWSLogs/{ACCOUNT}/CloudTrail/{region}/{start:%Y/%m/%d}/{ACCOUNT}_CloudTrail_{region}_{stamp}_{suffix}.json.gz"
    )


def write(target: Path, records: int, seed: int = SEED) -> dict[str, Any]:
    """Generate ``records`` records as log files under ``target``; the manifest (also written last)."""
    started = time.perf_counter()
    names = random.Random(seed + 1)  # noqa: S311  file names only
    sources: Counter[str] = Counter()
    files = raw = compressed = total = 0
    for start, by_region in iter_slots(records, seed):
        for region, region_records in by_region.items():
            if not region_records:
                continue
            body = orjson.dumps({"Records": region_records})
            data = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
            path = target / log_key(region, start, names)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            files, raw, compressed = files + 1, raw + len(body), compressed + len(data)
            total += len(region_records)
            sources.update(f"{r['eventSource']} {r['eventName']}" for r in region_records)
    attacks = attack_records(SLOT * slots(records))
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "records": total,
        "files": files,
        "raw_bytes": raw,
        "gzip_bytes": compressed,
        "generation_seconds": round(time.perf_counter() - started, 2),
        "attacks": [
            {"attack": name, "eventID": r["eventID"], "eventName": r["eventName"], "eventTime": r["eventTime"]}
            for name, r in attacks
        ],
        "calls": dict(sorted(sources.items())),
    }
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def ensure(name: str, *, root: Path = ROOT, records: int | None = None, seed: int = SEED) -> DataSet:
    """The data set ``name`` (a key of SIZES, or any name with ``records``), generated unless a complete one is
    cached. A size other than SIZES' gets a folder of its own, so that a small run never replaces a full set."""
    count = records if records is not None else SIZES[name]
    folder = name if SIZES.get(name) == count else f"{name}-{count}"
    path = root / ".warden" / "bench-data" / GENERATOR_VERSION / folder
    manifest_path = path / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("records") == count and manifest.get("seed") == seed:
            return DataSet(path, manifest | {"cached": True})
    partial = path.with_name(folder + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    write(partial, count, seed)
    shutil.rmtree(path, ignore_errors=True)
    partial.rename(path)
    return DataSet(path, json.loads(manifest_path.read_text()) | {"cached": False})


def read_records(dataset: DataSet) -> Iterator[dict[str, Any]]:
    """Every record of a data set, file by file."""
    for path in dataset.files():
        yield from orjson.loads(gzip.decompress(path.read_bytes()))["Records"]


if __name__ == "__main__":
    import sys

    for size in sys.argv[1:] or list(SIZES):
        made = ensure(size)
        print(json.dumps({k: v for k, v in made.manifest.items() if k not in {"calls"}}))
