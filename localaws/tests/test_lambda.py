"""Lambda behaviours moto lacks: states, IAM propagation, permission semantics."""

import time

import pytest
from botocore.exceptions import ClientError
from helpers import make_function, make_role, wait_active, zip_bytes


def code(e):
    return e.value.response["Error"]["Code"]


def test_new_role_cannot_be_assumed_at_first(aws):
    aws.control("config", {"iam_propagation_secs": 5, "clock_scale": 0.1})
    role = make_role(aws)
    lam = aws.client("lambda")
    with pytest.raises(ClientError) as e:
        lam.create_function(FunctionName="f", Runtime="provided.al2023", Role=role, Handler="bootstrap",
                            Code={"ZipFile": zip_bytes()})
    assert code(e) == "InvalidParameterValueException"
    assert e.value.response["Error"]["Message"] == "The role defined for the function cannot be assumed by Lambda."
    time.sleep(0.5)
    lam.create_function(FunctionName="f", Runtime="provided.al2023", Role=role, Handler="bootstrap",
                        Code={"ZipFile": zip_bytes()})


def test_pending_then_active_and_updates_in_progress_conflict(aws):
    make_function(aws, "f")
    lam = aws.client("lambda")
    assert lam.get_function(FunctionName="f")["Configuration"]["State"] == "Pending"
    with pytest.raises(ClientError) as e:
        lam.update_function_configuration(FunctionName="f", MemorySize=256)
    assert code(e) == "ResourceConflictException"
    wait_active(aws, "f")
    out = lam.update_function_configuration(FunctionName="f", MemorySize=256)
    assert out["LastUpdateStatus"] == "InProgress"
    assert lam.get_function_configuration(FunctionName="f")["LastUpdateStatus"] == "InProgress"
    with pytest.raises(ClientError) as e:
        lam.update_function_code(FunctionName="f", ZipFile=zip_bytes())
    assert code(e) == "ResourceConflictException"
    wait_active(aws, "f")
    lam.update_function_code(FunctionName="f", ZipFile=zip_bytes())


def test_permission_statement_ids(aws):
    make_function(aws, "f")
    lam = aws.client("lambda")
    args = dict(FunctionName="f", StatementId="s1", Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com")
    with pytest.raises(ClientError) as e:
        lam.remove_permission(FunctionName="f", StatementId="s1")
    assert code(e) == "ResourceNotFoundException"
    lam.add_permission(**args)
    with pytest.raises(ClientError) as e:
        lam.add_permission(**args)
    assert code(e) == "ResourceConflictException"
    with pytest.raises(ClientError) as e:
        lam.remove_permission(FunctionName="f", StatementId="other")
    assert code(e) == "ResourceNotFoundException"
    lam.remove_permission(FunctionName="f", StatementId="s1")


def test_new_role_with_environment_gets_the_kms_grant_error_in_the_second_half(aws):
    make_function(aws, "f")  # an old role; the function has environment variables
    # A 3 s window: "cannot be assumed" for 1.5 s, then the KMS grant error when env vars are set.
    aws.control("config", {"iam_propagation_secs": 30, "clock_scale": 0.1})
    role = make_role(aws, "new-role")
    created = time.monotonic()
    lam = aws.client("lambda")
    kms = ("Lambda was unable to configure access to your environment variables because the KMS key is invalid for "
           "CreateGrant. Please check your KMS key settings. KMS Exception: InvalidArnException KMS Message: ARN "
           f"does not refer to a valid principal: {role}")
    assumable = "The role defined for the function cannot be assumed by Lambda."

    def message(call, **kw):
        with pytest.raises(ClientError) as e:
            call(**kw)
        assert code(e) == "InvalidParameterValueException"
        return e.value.response["Error"]["Message"]

    create = dict(FunctionName="g", Runtime="provided.al2023", Role=role, Handler="bootstrap",
                  Code={"ZipFile": zip_bytes()})
    env = {"Variables": {"A": "1"}}
    assert message(lam.create_function, **create, Environment=env) == assumable
    assert time.monotonic() - created < 1.5, "the machine is too slow for this test's window"
    time.sleep(max(0.0, created + 1.6 - time.monotonic()))
    assert message(lam.create_function, **create, Environment=env) == kms
    assert message(lam.create_function, **create) == assumable
    assert message(lam.create_function, **create, Environment={"Variables": {}}) == assumable
    # A role change: the function's own variables count unless the request replaces them.
    assert message(lam.update_function_configuration, FunctionName="f", Role=role) == kms
    assert message(lam.update_function_configuration, FunctionName="f", Role=role,
                   Environment={"Variables": {}}) == assumable
    time.sleep(max(0.0, created + 3.1 - time.monotonic()))
    lam.create_function(**create, Environment=env)
