"""Service-specific credentials on the emulator behave as IAM's: boto3 calls, and Step Functions aws-sdk Tasks.

moto has no service-specific credentials; ``warden_local/iam_service_credentials.py`` adds them. These tests
hold that emulation to what AWS documents, over HTTP as every client (boto3, moto's ASL interpreter) reaches it.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from warden_local.emulator import ACCOUNT_ID, Emulator

BEDROCK = "bedrock.amazonaws.com"


@pytest.fixture
def iam(emulator: Emulator) -> Any:
    return emulator.client("iam")


def new_user(iam: Any, prefix: str = "BedrockAPIKey") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=name)
    return name


def error_code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return str(caught.value.response["Error"]["Code"])


def test_a_bedrock_key_is_an_alias_and_a_secret_shown_once(iam: Any) -> None:
    user = new_user(iam)

    made = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK)["ServiceSpecificCredential"]

    assert made["UserName"] == user and made["ServiceName"] == BEDROCK and made["Status"] == "Active"
    assert made["ServiceSpecificCredentialId"].startswith("ACCA") and len(made["ServiceSpecificCredentialId"]) >= 20
    assert made["ServiceCredentialAlias"] == f"{user}-at-{ACCOUNT_ID}"
    assert made["ServiceCredentialSecret"].startswith("ABSK")
    assert base64.b64decode(made["ServiceCredentialSecret"][4:]).startswith(b"BedrockAPIKey-")
    assert "ServicePassword" not in made and "ExpirationDate" not in made
    (listed,) = iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]
    assert "ServiceCredentialSecret" not in listed, "listing never shows the secret"
    assert listed["ServiceSpecificCredentialId"] == made["ServiceSpecificCredentialId"]
    assert listed["ServiceCredentialAlias"] == made["ServiceCredentialAlias"]


def test_a_codecommit_credential_is_a_user_name_and_a_password(iam: Any) -> None:
    user = new_user(iam, "dev")

    made = iam.create_service_specific_credential(UserName=user, ServiceName="codecommit.amazonaws.com")[
        "ServiceSpecificCredential"
    ]

    assert made["ServiceUserName"] == f"{user}-at-{ACCOUNT_ID}" and made["ServicePassword"]
    assert "ServiceCredentialSecret" not in made


def test_a_key_with_an_age_expires(iam: Any) -> None:
    user = new_user(iam)

    made = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK, CredentialAgeDays=30)[
        "ServiceSpecificCredential"
    ]

    assert made["ExpirationDate"] - made["CreateDate"] == timedelta(days=30)
    assert made["CreateDate"] <= datetime.now(UTC) + timedelta(seconds=1)
    assert (
        error_code(
            iam.create_service_specific_credential,
            UserName=user,
            ServiceName="codecommit.amazonaws.com",
            CredentialAgeDays=1,
        )
        == "ValidationError"
    ), "an age only for services with long-term API keys"


def test_deactivating_and_reactivating_a_key(iam: Any) -> None:
    user = new_user(iam)
    first, second = (
        iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK)["ServiceSpecificCredential"][
            "ServiceSpecificCredentialId"
        ]
        for _ in range(2)
    )

    iam.update_service_specific_credential(UserName=user, ServiceSpecificCredentialId=first, Status="Inactive")

    listed = iam.list_service_specific_credentials(UserName=user, ServiceName=BEDROCK)["ServiceSpecificCredentials"]
    assert {c["ServiceSpecificCredentialId"]: c["Status"] for c in listed} == {first: "Inactive", second: "Active"}
    iam.update_service_specific_credential(UserName=user, ServiceSpecificCredentialId=first, Status="Active")
    listed = iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]
    assert {c["Status"] for c in listed} == {"Active"}
    assert (
        error_code(
            iam.update_service_specific_credential, UserName=user, ServiceSpecificCredentialId=first, Status="Disabled"
        )
        == "ValidationError"
    )


def test_reset_issues_a_new_secret_for_the_same_id(iam: Any) -> None:
    user = new_user(iam)
    made = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK)["ServiceSpecificCredential"]

    reset = iam.reset_service_specific_credential(
        UserName=user, ServiceSpecificCredentialId=made["ServiceSpecificCredentialId"]
    )["ServiceSpecificCredential"]

    assert reset["ServiceSpecificCredentialId"] == made["ServiceSpecificCredentialId"]
    assert reset["ServiceCredentialSecret"].startswith("ABSK")
    assert reset["ServiceCredentialSecret"] != made["ServiceCredentialSecret"]


def test_unknown_users_and_credentials_and_other_users_credentials_are_no_such_entity(iam: Any) -> None:
    owner, other = new_user(iam), new_user(iam)
    credential = iam.create_service_specific_credential(UserName=owner, ServiceName=BEDROCK)[
        "ServiceSpecificCredential"
    ]["ServiceSpecificCredentialId"]

    for call, extra in (
        (iam.update_service_specific_credential, {"Status": "Inactive"}),
        (iam.reset_service_specific_credential, {}),
        (iam.delete_service_specific_credential, {}),
    ):
        assert (
            error_code(call, UserName="nobody-here", ServiceSpecificCredentialId=credential, **extra) == "NoSuchEntity"
        )
        assert error_code(call, UserName=other, ServiceSpecificCredentialId=credential, **extra) == "NoSuchEntity"
        unknown = "ACCA" + "0" * 17
        assert error_code(call, UserName=owner, ServiceSpecificCredentialId=unknown, **extra) == "NoSuchEntity"
    assert error_code(iam.list_service_specific_credentials, UserName="nobody-here") == "NoSuchEntity"
    assert error_code(iam.create_service_specific_credential, UserName="nobody-here", ServiceName=BEDROCK) == (
        "NoSuchEntity"
    )


def test_only_services_that_issue_such_credentials_and_two_per_service(iam: Any) -> None:
    user = new_user(iam)

    assert error_code(iam.create_service_specific_credential, UserName=user, ServiceName="s3.amazonaws.com") == (
        "NotSupportedService"
    )
    for _ in range(2):
        iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK)
    assert error_code(iam.create_service_specific_credential, UserName=user, ServiceName=BEDROCK) == "LimitExceeded"
    iam.create_service_specific_credential(UserName=user, ServiceName="cassandra.amazonaws.com")  # another service


def test_listing_filters_by_service_and_lists_every_user_on_request(iam: Any) -> None:
    first, second = new_user(iam), new_user(iam, "dev")
    iam.create_service_specific_credential(UserName=first, ServiceName=BEDROCK)
    iam.create_service_specific_credential(UserName=second, ServiceName=BEDROCK)
    iam.create_service_specific_credential(UserName=second, ServiceName="codecommit.amazonaws.com")

    every = iam.list_service_specific_credentials(AllUsers=True, ServiceName=BEDROCK)["ServiceSpecificCredentials"]
    seconds = iam.list_service_specific_credentials(UserName=second)["ServiceSpecificCredentials"]

    assert {first, second} <= {c["UserName"] for c in every}
    assert {c["ServiceName"] for c in every} == {BEDROCK}
    assert sorted(c["ServiceName"] for c in seconds) == [BEDROCK, "codecommit.amazonaws.com"]
    assert error_code(iam.list_service_specific_credentials, UserName=first, AllUsers=True) == "ValidationError"


def test_a_user_holding_credentials_cannot_be_deleted(iam: Any) -> None:
    user = new_user(iam)
    credential = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK)[
        "ServiceSpecificCredential"
    ]["ServiceSpecificCredentialId"]

    assert error_code(iam.delete_user, UserName=user) == "DeleteConflict"

    iam.delete_service_specific_credential(UserName=user, ServiceSpecificCredentialId=credential)
    iam.delete_user(UserName=user)
    every = iam.list_service_specific_credentials(AllUsers=True)["ServiceSpecificCredentials"]
    assert user not in {c["UserName"] for c in every}


def test_a_users_own_credentials_without_naming_the_user(emulator: Emulator, iam: Any) -> None:
    user = new_user(iam)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    client = boto3.client(  # signed with the user's own key: the user meant when none is named
        "iam",
        region_name=emulator.region,
        endpoint_url=emulator.endpoint,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )

    made = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK)["ServiceSpecificCredential"]

    (listed,) = client.list_service_specific_credentials()["ServiceSpecificCredentials"]
    client.update_service_specific_credential(
        ServiceSpecificCredentialId=listed["ServiceSpecificCredentialId"], Status="Inactive"
    )

    assert listed["UserName"] == user and listed["ServiceSpecificCredentialId"] == made["ServiceSpecificCredentialId"]
    assert [
        c["Status"] for c in iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]
    ] == ["Inactive"]
    assert error_code(iam.list_service_specific_credentials) == "ValidationError", "a caller that is no IAM user"


# ------------------------------------------------------------------ Step Functions aws-sdk Tasks


def run_definition(emulator: Emulator, definition: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """Create a state machine from ``definition``, run it on ``payload`` with moto's interpreter, return the end."""
    sfn = emulator.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"ssc-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/test-sfn",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload))["executionArn"]
    deadline = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.1)
    return dict(described)


def test_a_step_functions_task_lists_and_deactivates_a_key(emulator: Emulator, iam: Any) -> None:
    user = new_user(iam)
    credential = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK)[
        "ServiceSpecificCredential"
    ]["ServiceSpecificCredentialId"]
    definition = {
        "StartAt": "List",
        "States": {
            "List": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:iam:listServiceSpecificCredentials",
                "Parameters": {"UserName.$": "$.user", "ServiceName": BEDROCK},
                "ResultSelector": {
                    "ids.$": "$.ServiceSpecificCredentials[*].ServiceSpecificCredentialId",
                    "statuses.$": "$.ServiceSpecificCredentials[*].Status",
                    "aliases.$": "$.ServiceSpecificCredentials[*].ServiceCredentialAlias",
                },
                "ResultPath": "$.before",
                "Next": "Deactivate",
            },
            "Deactivate": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:iam:updateServiceSpecificCredential",
                "Parameters": {
                    "UserName.$": "$.user",
                    "ServiceSpecificCredentialId.$": "$.before.ids[0]",
                    "Status": "Inactive",
                },
                "ResultPath": "$.updated",
                "End": True,
            },
        },
    }

    ended = run_definition(emulator, definition, {"user": user})

    assert ended["status"] == "SUCCEEDED", ended.get("cause")
    output = json.loads(ended["output"])
    assert output["before"] == {"ids": [credential], "statuses": ["Active"], "aliases": [f"{user}-at-{ACCOUNT_ID}"]}
    listed = iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]
    assert [c["Status"] for c in listed] == ["Inactive"]


def test_a_step_functions_task_on_an_unknown_credential_fails_with_iams_error_name(
    emulator: Emulator, iam: Any
) -> None:
    user = new_user(iam)
    definition = {
        "StartAt": "Deactivate",
        "States": {
            "Deactivate": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:iam:updateServiceSpecificCredential",
                "Parameters": {
                    "UserName.$": "$.user",
                    "ServiceSpecificCredentialId": "ACCA" + "0" * 17,
                    "Status": "Inactive",
                },
                "Catch": [{"ErrorEquals": ["Iam.NoSuchEntityException"], "ResultPath": "$.error", "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }

    ended = run_definition(emulator, definition, {"user": user})

    assert ended["status"] == "SUCCEEDED", "the error is named as AWS names it, so a Catch on it matches"
    assert json.loads(ended["output"])["error"]["Error"] == "Iam.NoSuchEntityException"
