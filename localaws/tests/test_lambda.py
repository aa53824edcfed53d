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
