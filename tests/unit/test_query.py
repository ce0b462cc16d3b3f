"""The selection (warden.query): what wants() takes, the Athena SQL it writes, and the detectors' ``where``.

Three promises are checked here. A detector's declared ``where`` is true of its code: run over every
sample record (events/ and the shared corpus) and over generated variations of them, with the state the
samples built, a record failing it gives no finding and no state. wants() and the SQL say the same
thing: the SQL's WHERE clause runs in SQLite (with Trino's functions defined) over the sample records,
and takes what wants() takes. And the SQL is the one documented (an exact expected string for a small
selection; docs/athena.md's block for the default one), with every consumed pair, nothing else, and the
time range on both the partitions and the event time. A row as Athena returns it rebuilds the record.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import warden.detectors  # noqa: F401  (registers every detector)
from tests.athena_rows import athena_row, json_text
from tests.conftest import CORPUS, EVENTS, ROOT
from warden.detectors._conditions import AllOf, AnyOf, Condition, Differs, Equals, IsTrue, Prefix, paths
from warden.detectors.registry import ANY_EVENT, REGISTRY, Detector, Outcome
from warden.models import CloudTrailRecord, Family
from warden.query import Selection, columns, condition_sql, identifier, literal, table_name
from warden.settings import Settings
from warden_local.readers import CLOUDTRAIL_DETAIL_TYPE, ReadLimits, read_events

SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC)
EVERYTHING = (datetime(2005, 1, 1, tzinfo=UTC), datetime(2199, 12, 31, tzinfo=UTC))


def _samples() -> list[dict[str, Any]]:
    """Every CloudTrail record of events/ and of the corpus (when present), in time order."""
    roots = [EVENTS, *([CORPUS] if CORPUS.is_dir() else [])]
    read = read_events(roots, ReadLimits(days_from_median=1_000_000))
    return [e["detail"] for e in read.events if e.get("detail-type") == CLOUDTRAIL_DETAIL_TYPE]


SAMPLES = _samples()
WITH_WHERE = [d for d in REGISTRY if d.where]


def _model(record: Mapping[str, Any]) -> CloudTrailRecord | None:
    try:
        return CloudTrailRecord.model_validate(record)
    except ValidationError:
        return None


def _evaluate(
    item: Detector[BaseModel], model: CloudTrailRecord, state: BaseModel | None
) -> tuple[Outcome[Any], str | None]:
    """One run of a detector as the service makes it: (outcome, state key); a skipped record is an empty outcome."""
    if item.state_model is None:
        return item.evaluate(model, None, Settings()), None
    key = item.state_key(model)
    if key is None:
        return Outcome(), None
    return item.evaluate(model, state if state is not None else item.state_model(), Settings()), key


def _replay(
    item: Detector[BaseModel],
) -> Iterator[tuple[dict[str, Any], CloudTrailRecord, Outcome[Any], dict[str, BaseModel]]]:
    """Run a detector over every sample it applies to, keeping state as the service would."""
    states: dict[str, BaseModel] = {}
    for record in SAMPLES:
        model = _model(record)
        if model is None or not item.applies_to(model):
            continue
        key = item.state_key(model) if item.state_model is not None else None
        outcome, key = _evaluate(item, model, states.get(key) if key else None)
        if key is not None and outcome.state is not None:
            states[key] = outcome.state
        yield record, model, outcome, states


# ------------------------------------------------------------------------------ where: true of the code


def test_the_samples_are_there() -> None:
    assert len(SAMPLES) > 100
    assert {d.name for d in WITH_WHERE} >= {
        "bedrock-api-key-control-plane",
        "bedrock-api-key-new-network",
        "bedrock-api-key-outside-bedrock",
        "assume-role-from-new-account",
    }


@pytest.mark.parametrize("item", WITH_WHERE, ids=lambda d: d.name)
def test_records_failing_where_give_no_finding_and_no_state(item: Detector[BaseModel]) -> None:
    alone = Selection.of([item])
    refused = findings = 0
    for record, model, outcome, _states in _replay(item):
        if alone.wants(record):
            findings += len(outcome.findings)
            continue
        refused += 1
        assert outcome.findings == () and outcome.state is None, (item.name, record.get("eventID"))
        fresh, _ = _evaluate(item, model, None)
        assert fresh.findings == () and fresh.state is None, (item.name, record.get("eventID"))
    assert refused, f"no sample fails {item.name}'s where: the test proves nothing"
    assert findings, f"no sample passing {item.name}'s where gives a finding"


IDENTITY_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "IAMUser",
            "AssumedRole",
            "AWSAccount",
            "BedrockAPIKey-x7k2",
            "bedrockapikey-LOWER",
            "BEDROCKAPIKEY-upper",
            "BedrockAPIKey",
            "xBedrockAPIKey-",
            "true",
            "TRUE",
            "True",
            "false",
            "1",
            "111122223333",
            "999988887777",
        ]
    ),
)
MISSING = object()
PHANTOM_LIKE = st.builds(
    str.__add__,
    st.sampled_from(["BedrockAPIKey-", "bedrockapikey-", "BEDROCKAPIKEY-", "BedrockApiKey-"]),
    st.text(max_size=4),
)
FIELD_VALUES = st.one_of(st.just(MISSING), PHANTOM_LIKE, IDENTITY_VALUES)


def _set(record: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """A copy of ``record`` with the dotted field set (or removed, for MISSING)."""
    copy: dict[str, Any] = json.loads(json.dumps(record))
    *outer, last = path.split(".")
    node = copy
    for part in outer:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    if value is MISSING:
        node.pop(last, None)
    else:
        node[last] = value
    return copy


def _condition_of(item: Detector[BaseModel], record: Mapping[str, Any]) -> Condition | None:
    pair = (record.get("eventSource"), record.get("eventName"))
    return item.where.get(pair) or item.where.get((pair[0], ANY_EVENT))  # type: ignore[arg-type]


VARIED = sorted({path for item in WITH_WHERE for condition in item.where.values() for path in paths(condition)})
"""Every field some detector's where reads: each variation may change any of them, not only its own."""


@pytest.mark.parametrize("item", WITH_WHERE, ids=lambda d: d.name)
def test_generated_variations_failing_where_give_nothing(item: Detector[BaseModel]) -> None:
    """Records a detector acts on, with the fields wheres read (and, for ``*``, the source and name) changed at
    random, run with a fresh state and with the state the samples built."""
    runs = list(_replay(item))
    states = runs[-1][3] if runs else {}
    applicable = [record for record, *_ in runs if _condition_of(item, record) is not None]
    assert applicable
    star_sources = sorted(s for s, n in item.consumes if n == ANY_EVENT)
    alone = Selection.of([item])

    @settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(applicable), st.data())
    def check(record: dict[str, Any], data: st.DataObject) -> None:
        varied = record
        move: bool = data.draw(st.booleans(), label="move to another source")
        if star_sources and move:
            varied = _set(varied, "eventSource", data.draw(st.sampled_from(star_sources), label="eventSource"))
            name = data.draw(st.sampled_from(["DeleteGuardrail", "ListThings", "InvokeModel", "X"]), label="eventName")
            varied = _set(varied, "eventName", name)
        for path in data.draw(st.lists(st.sampled_from(VARIED), min_size=1, max_size=2, unique=True), label="fields"):
            varied = _set(varied, path, data.draw(FIELD_VALUES, label=path))
        model = _model(varied)
        if model is None or not item.applies_to(model) or alone.wants(varied):
            return
        key = item.state_key(model) if item.state_model is not None else None
        for state in (None, states.get(key) if key else None):
            outcome, _ = _evaluate(item, model, state)
            assert outcome.findings == () and outcome.state is None

    check()


def test_where_names_only_pairs_the_detector_consumes() -> None:
    for item in REGISTRY:
        assert item.where.keys() <= item.consumes, item.name
        assert not item.where or item.record is CloudTrailRecord, item.name


# ---------------------------------------------------------------------------------- wants: the basics


ALL = Selection.of(REGISTRY)


def test_wants_takes_consumed_pairs_and_refuses_the_rest() -> None:
    invoke = {"eventSource": "bedrock.amazonaws.com", "eventName": "InvokeModel"}
    assert ALL.wants(invoke)
    assert not ALL.wants({"eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances"})
    assert not ALL.wants({"eventSource": "athena.amazonaws.com", "eventName": "GetQueryResults"})
    phantom = {"type": "IAMUser", "userName": "bedrockapikey-ab12"}
    assert ALL.wants({"eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances", "userIdentity": phantom})
    same = {"accountId": "111122223333"}
    assume = {"eventSource": "sts.amazonaws.com", "eventName": "AssumeRole", "recipientAccountId": "111122223333"}
    assert not ALL.wants({**assume, "userIdentity": same})
    assert ALL.wants({**assume, "userIdentity": {"accountId": "999988887777"}})
    bearer = {"eventSource": "bedrock.amazonaws.com", "eventName": "ListCustomModels"}
    assert not ALL.wants(bearer)
    assert ALL.wants({**bearer, "additionalEventData": {"callWithBearerToken": True}})


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
def test_wants_never_raises_on_garbage(value: Any) -> None:
    assert ALL.wants(value) in (True, False)
    if isinstance(value, dict):
        assert ALL.wants({**value, "eventSource": "ec2.amazonaws.com", "eventName": "X"}) in (True, False)


def test_wants_needs_string_source_and_name() -> None:
    assert not ALL.wants({"eventSource": ["bedrock.amazonaws.com"], "eventName": "InvokeModel"})
    assert not ALL.wants({"eventSource": "bedrock.amazonaws.com", "eventName": None})
    assert not ALL.wants(
        {
            "eventSource": "ec2.amazonaws.com",
            "eventName": 3,
            "userIdentity": {"userName": "BedrockAPIKey-1", "type": "IAMUser"},
        }
    )


def test_the_flags_say_which_other_inputs_the_selection_reads() -> None:
    assert ALL.wants_invocation_logs and ALL.wants_guardduty and ALL.wants_cloudtrail
    only_logs = Selection.of([REGISTRY["bedrock-token-surge"]])
    assert only_logs.wants_invocation_logs and not only_logs.wants_guardduty and not only_logs.wants_cloudtrail
    with pytest.raises(ValueError, match="no selected detector reads CloudTrail"):
        only_logs.sql("db.t", SINCE, UNTIL)


# ------------------------------------------------------------------------------------ SQL: exact text

SMALL_SQL = """\
SELECT
  {columns}
FROM warden.cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/11/01' AND '2026/12/01'
  AND eventtime >= '2026-11-01T00:00:00Z'
  AND eventtime <= '2026-11-30T23:59:59Z'
  AND (
  (eventsource = 'bedrock.amazonaws.com' AND eventname IN ('DeleteModelInvocationLoggingConfiguration', 'PutModelInvocationLoggingConfiguration'))
  OR (eventsource = 'iam.amazonaws.com' AND eventname IN ('CreateRole', 'UpdateAssumeRolePolicy'))
  OR (eventsource = 'sts.amazonaws.com' AND (eventname = 'AssumeRole' AND (useridentity.accountid <> recipientaccountid AND useridentity.accountid <> '' AND recipientaccountid <> '')))
  )
ORDER BY eventtime, eventid"""  # noqa: E501

SMALL_COLUMNS = """\
eventversion AS "eventVersion",
  eventtime AS "eventTime",
  eventsource AS "eventSource",
  eventname AS "eventName",
  awsregion AS "awsRegion",
  eventid AS "eventID",
  useridentity.type AS "userIdentity.type",
  useridentity.principalid AS "userIdentity.principalId",
  useridentity.arn AS "userIdentity.arn",
  useridentity.accountid AS "userIdentity.accountId",
  useridentity.accesskeyid AS "userIdentity.accessKeyId",
  useridentity.username AS "userIdentity.userName",
  useridentity.sessioncontext.sessionissuer.type AS "userIdentity.sessionContext.sessionIssuer.type",
  useridentity.sessioncontext.sessionissuer.principalid AS "userIdentity.sessionContext.sessionIssuer.principalId",
  useridentity.sessioncontext.sessionissuer.arn AS "userIdentity.sessionContext.sessionIssuer.arn",
  useridentity.sessioncontext.sessionissuer.accountid AS "userIdentity.sessionContext.sessionIssuer.accountId",
  useridentity.sessioncontext.sessionissuer.username AS "userIdentity.sessionContext.sessionIssuer.userName",
  useridentity.sessioncontext.attributes.mfaauthenticated AS "userIdentity.sessionContext.attributes.mfaAuthenticated",
  useridentity.sessioncontext.attributes.creationdate AS "userIdentity.sessionContext.attributes.creationDate",
  useridentity.invokedby AS "userIdentity.invokedBy",
  sourceipaddress AS "sourceIPAddress",
  useragent AS "userAgent",
  requestparameters AS "requestParameters",
  responseelements AS "responseElements",
  additionaleventdata AS "additionalEventData",
  requestid AS "requestID",
  eventtype AS "eventType",
  readonly AS "readOnly",
  recipientaccountid AS "recipientAccountId",
  errorcode AS "errorCode",
  errormessage AS "errorMessage",
  tlsdetails.tlsversion AS "tlsDetails.tlsVersion",
  tlsdetails.ciphersuite AS "tlsDetails.cipherSuite",
  tlsdetails.clientprovidedhostheader AS "tlsDetails.clientProvidedHostHeader",
  json_format(CAST(transform(resources, r -> MAP(ARRAY['ARN', 'accountId', 'type'], \
ARRAY[r.arn, r.accountid, r.type])) AS JSON)) AS resources,
  sharedeventid AS "sharedEventID",
  vpcendpointid AS "vpcEndpointId\""""


def test_the_sql_of_a_small_selection_is_exactly_this() -> None:
    small = Selection.of([REGISTRY["invocation-logging-disabled"], REGISTRY["assume-role-from-new-account"]])
    assert small.sql("warden.cloudtrail_logs", SINCE, UNTIL) == SMALL_SQL.format(columns=SMALL_COLUMNS)


def test_the_columns_are_every_model_field_the_table_has() -> None:
    """A field added to the model is selected, or named as missing from the table: never silently dropped."""
    from warden.query import NOT_IN_TABLE, STRUCT_OBJECTS, _leaf_paths

    selected = {c.path for c in columns()}
    for path in _leaf_paths(CloudTrailRecord):
        expanded = {f"{path}.{k}" for k in STRUCT_OBJECTS.get(path, ())} or {path}
        assert path in NOT_IN_TABLE or expanded <= selected, path
    for name in ("managementEvent", "eventCategory"):
        assert name not in selected  # not in the documented table; no detector reads them
    read = {"userIdentity.sessionContext.sessionIssuer.arn", "tlsDetails.tlsVersion", "vpcEndpointId", "resources"}
    assert read <= selected


DOCS = ROOT / "docs" / "athena.md"
DOCS_SINCE = datetime(2026, 11, 1, tzinfo=UTC)
DOCS_UNTIL = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
DOCS_TABLE = "security.cloudtrail_logs"


def test_docs_show_the_sql_of_the_default_selection_verbatim() -> None:
    """docs/athena.md's ```sql block after "<!-- generated: default selection -->" is what the code writes."""
    text = DOCS.read_text()
    block = re.search(r"<!-- generated: default selection -->\n```sql\n(.*?)\n```", text, re.S)
    assert block, "docs/athena.md lost its generated SQL block"
    expected = ALL.sql(DOCS_TABLE, DOCS_SINCE, DOCS_UNTIL)
    assert block.group(1) == expected, "docs/athena.md shows another SQL than Selection.sql writes: regenerate it"


# ------------------------------------------------------------------------------- SQL: its properties

CLOUDTRAIL_DETECTORS = [d for d in REGISTRY if d.record is CloudTrailRecord]
TIMES = st.datetimes(min_value=datetime(2006, 1, 1), max_value=datetime(2190, 1, 1), timezones=st.just(UTC))


@given(
    st.sets(st.sampled_from(CLOUDTRAIL_DETECTORS), min_size=1, max_size=6),
    TIMES,
    st.timedeltas(timedelta(0), timedelta(days=400)),
)
def test_the_sql_takes_every_consumed_pair_nothing_else_and_the_time_range(
    chosen: set[Detector[BaseModel]], since: datetime, span: timedelta
) -> None:
    until = since + span
    sql = Selection.of(chosen).sql("db.t", since, until)
    clauses = {
        m.group(1): m.group(0)
        for m in re.finditer(r"\(eventsource = '([^']+)'.*?(?=\n  OR \(eventsource|\n  \)\nORDER)", sql, re.S)
    }
    consumed = {(s, n) for d in chosen for s, n in d.consumes}
    assert set(clauses) == {s for s, _ in consumed}
    for source, name in consumed:
        assert name == ANY_EVENT or f"'{name}'" in clauses[source] or "eventname" not in clauses[source]
    first = since.replace(microsecond=0) + (timedelta(seconds=1) if since.microsecond else timedelta(0))
    assert f"AND eventtime >= '{first:%Y-%m-%dT%H:%M:%SZ}'" in sql
    (days,) = re.findall(r"\"timestamp\" BETWEEN '(\d{4}/\d\d/\d\d)' AND '(\d{4}/\d\d/\d\d)'", sql)
    assert days[0] == f"{first:%Y/%m/%d}" and days[0] <= days[1]
    assert days[1] == f"{until + timedelta(days=1):%Y/%m/%d}"
    assert f"AND eventtime <= '{until:%Y-%m-%dT%H:%M:%SZ}'\n" in sql


def test_times_need_a_zone_and_an_order() -> None:
    with pytest.raises(ValueError, match="time zone"):
        ALL.sql("db.t", datetime(2026, 1, 1), UNTIL)
    with pytest.raises(ValueError, match="not be after"):
        ALL.sql("db.t", UNTIL, SINCE)


@pytest.mark.parametrize("bad", ["t", "a.b.c", "db.t; DROP TABLE x", 'db."t"', "db.t--", "db .t", "", "db."])
def test_the_table_must_be_database_dot_table(bad: str) -> None:
    with pytest.raises(ValueError, match=r"DATABASE\.TABLE"):
        ALL.sql(bad, SINCE, UNTIL)


def test_identifiers_and_literals_are_escaped() -> None:
    assert table_name("Sec_DB.CloudTrail_2") == "sec_db.cloudtrail_2"
    assert table_name("1db.table") == '"1db"."table"'
    assert identifier("timestamp") == '"timestamp"' and identifier("eventID") == '"eventID"'
    assert identifier('a"b') == '"a""b"'
    assert literal("O'Brien") == "'O''Brien'"
    odd: Detector[BaseModel] = Detector(
        name="odd",
        family=Family.BEDROCK_USAGE,
        state_model=None,
        consumes=frozenset({("x'.amazonaws.com", "Put'Thing"), ("y.amazonaws.com", ANY_EVENT)}),
        state_key=lambda r: None,
        evaluate=lambda r, s, c: Outcome(),
        where=MappingProxyType({("y.amazonaws.com", ANY_EVENT): Equals("userIdentity.userName", "it's")}),
    )
    sql = Selection.of([odd]).sql("db.t", SINCE, UNTIL)
    assert "(eventsource = 'x''.amazonaws.com' AND eventname = 'Put''Thing')" in sql
    assert "(eventsource = 'y.amazonaws.com' AND useridentity.username = 'it''s')" in sql


def test_conditions_translate_to_sql() -> None:
    assert condition_sql(Prefix("userIdentity.userName", "Ab-")) == "starts_with(useridentity.username, 'Ab-')"
    assert (
        condition_sql(IsTrue("requestParameters.x.y"))
        == "lower(json_extract_scalar(requestparameters, '$.x.y')) = 'true'"
    )
    both = AllOf((Equals("eventType", "AwsApiCall"), AnyOf((IsTrue("readOnly"), Differs("awsRegion", "eventName")))))
    assert condition_sql(both) == (
        "(eventtype = 'AwsApiCall' AND (lower(readonly) = 'true' OR "
        "(awsregion <> eventname AND awsregion <> '' AND eventname <> '')))"
    )
    with pytest.raises(ValueError, match="no column"):
        condition_sql(Equals("managementEvent", "true"))
    with pytest.raises(ValueError, match="dotted"):
        Equals("userIdentity..x", "a")


# --------------------------------------------------------------- wants and the SQL: the same records


def _trino_json_extract_scalar(document: str | None, path: str) -> str | None:
    if document is None:
        return None
    try:
        value: Any = json.loads(document)
    except ValueError:
        return None
    for part in path.removeprefix("$.").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _sql_takes(where: str, record: Mapping[str, Any]) -> bool:
    """Run the query's WHERE clause in SQLite over one record laid out as the table's columns."""
    db = sqlite3.connect(":memory:")
    db.create_function("starts_with", 2, lambda a, b: None if a is None else a.startswith(b), deterministic=True)
    db.create_function("lower", 1, lambda a: None if a is None else a.lower(), deterministic=True)
    db.create_function("json_extract_scalar", 2, _trino_json_extract_scalar, deterministic=True)
    time = json_text(record.get("eventTime")) or ""
    top = {
        "eventsource": json_text(record.get("eventSource")),
        "eventname": json_text(record.get("eventName")),
        "eventtime": time,
        '"timestamp"': time[:10].replace("-", "/"),
        "recipientaccountid": json_text(record.get("recipientAccountId")),
        "eventtype": json_text(record.get("eventType")),
        "additionaleventdata": json_text(record.get("additionalEventData")),
        "requestparameters": json_text(record.get("requestParameters")),
        "eventid": json_text(record.get("eventID")),
    }
    found = record.get("userIdentity")
    identity: dict[str, Any] = found if isinstance(found, dict) else {}
    user = {
        k: json_text(identity.get(v))
        for k, v in {
            "type": "type",
            "username": "userName",
            "accountid": "accountId",
            "accesskeyid": "accessKeyId",
        }.items()
    }
    db.execute(f"CREATE TABLE t ({', '.join(top)})")
    db.execute(f"CREATE TABLE useridentity ({', '.join(user)})")
    db.execute(f"INSERT INTO t VALUES ({', '.join('?' * len(top))})", list(top.values()))  # noqa: S608
    db.execute(f"INSERT INTO useridentity VALUES ({', '.join('?' * len(user))})", list(user.values()))  # noqa: S608
    (count,) = db.execute(f"SELECT count(*) FROM t, useridentity WHERE {where}").fetchone()  # noqa: S608
    return bool(count == 1)


def _where(selection: Selection) -> str:
    sql = selection.sql("db.t", *EVERYTHING)
    return sql.split("\nWHERE ", 1)[1].split("\nORDER BY ", 1)[0]


def test_the_sql_takes_exactly_the_sample_records_wants_takes() -> None:
    where = _where(ALL)
    taken = [ALL.wants(r) for r in SAMPLES]
    assert any(taken) and not all(taken)
    for record, wanted in zip(SAMPLES, taken, strict=True):
        assert _sql_takes(where, record) == wanted, record.get("eventID")


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SAMPLES), st.data())
def test_the_sql_never_drops_a_record_wants_takes(record: dict[str, Any], data: st.DataObject) -> None:
    """On generated identities and flags the SQL may take more (Athena reads a JSON number as a string), never less."""
    varied = record
    for path in (
        "userIdentity.type",
        "userIdentity.userName",
        "userIdentity.accountId",
        "recipientAccountId",
        "additionalEventData.callWithBearerToken",
        "requestParameters.callWithBearerToken",
    ):
        if data.draw(st.booleans(), label=f"vary {path}"):
            varied = _set(varied, path, data.draw(FIELD_VALUES, label=path))
    wanted = ALL.wants(varied)
    assert not wanted or _sql_takes(_where(ALL), varied)
    if all(isinstance(v, str) or v is None for v in _identity_values(varied)):
        assert _sql_takes(_where(ALL), varied) == wanted


def _identity_values(record: Mapping[str, Any]) -> list[object]:
    identity = record.get("userIdentity") or {}
    extra = record.get("additionalEventData") or {}
    params = record.get("requestParameters") or {}
    return [
        identity.get("type"),
        identity.get("userName"),
        identity.get("accountId"),
        record.get("recipientAccountId"),
        extra.get("callWithBearerToken") if isinstance(extra, dict) else None,
        params.get("callWithBearerToken") if isinstance(params, dict) else None,
    ]


# ------------------------------------------------------------------------------- rows back to records


NOT_SELECTED = {"management_event", "event_category"}


def test_a_row_rebuilds_the_record_the_models_read() -> None:
    checked = 0
    for record in SAMPLES:
        original = _model(record)
        if original is None:
            continue
        rebuilt = CloudTrailRecord.model_validate(Selection.record_from_row(athena_row(record)))
        assert rebuilt.model_dump(exclude=NOT_SELECTED) == original.model_dump(exclude=NOT_SELECTED), record["eventID"]
        checked += 1
    assert checked == len(SAMPLES)


def test_row_names_match_in_any_case_and_nulls_are_left_out() -> None:
    record = SAMPLES[0]
    lowered = {name.lower(): value for name, value in athena_row(record).items()}
    assert Selection.record_from_row(lowered) == Selection.record_from_row(athena_row(record))
    rebuilt = Selection.record_from_row({"eventSource": "s", "errorCode": None, "readOnly": "true", "other": "x"})
    assert rebuilt == {"eventSource": "s", "readOnly": True}


def test_a_json_column_that_does_not_parse_is_named_not_shown() -> None:
    with pytest.raises(ValueError, match="requestParameters is not JSON") as error:
        Selection.record_from_row({"requestParameters": "{secret prompt"})
    assert "secret" not in str(error.value)
    with pytest.raises(ValueError, match="responseElements is not JSON"):
        Selection.record_from_row({"responseElements": "[" * 100_000})
