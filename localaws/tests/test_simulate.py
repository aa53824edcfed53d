"""iam:SimulatePrincipalPolicy with the local policy evaluator."""

import json

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
INDEX = f"arn:aws:s3vectors:us-east-1:{ACCOUNT}:bucket/b/index/i"
OTHER = f"arn:aws:s3vectors:us-east-1:{ACCOUNT}:bucket/b/index/other"
LOG_GROUP = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/fn"


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=2)


def results(out):
    return [(r["EvalActionName"], r["EvalResourceName"], r["EvalDecision"]) for r in out["EvaluationResults"]]


def test_role_decisions_per_action_and_resource(aws):
    iam = aws.client("iam")
    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName="fn-role", PolicyName="work", PolicyDocument=doc(
        {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [f"{LOG_GROUP}:*"]},
        {"Sid": "Vectors", "Effect": "Allow", "Action": "s3vectors:*", "Resource": INDEX},
        {"Sid": "NoDelete", "Effect": "Deny", "Action": "s3vectors:DeleteVectors", "Resource": "*"}))

    out = iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=[
        "s3vectors:QueryVectors", "s3vectors:DeleteVectors", "s3vectors:PutVectors"], ResourceArns=[INDEX])
    assert out["IsTruncated"] is False
    assert results(out) == [("s3vectors:QueryVectors", INDEX, "allowed"),
                            ("s3vectors:DeleteVectors", INDEX, "explicitDeny"),
                            ("s3vectors:PutVectors", INDEX, "allowed")]
    allowed, denied, _ = out["EvaluationResults"]
    assert allowed["MatchedStatements"] == [{"SourcePolicyId": "work", "SourcePolicyType": "role",
                                             "StartPosition": {"Line": 15, "Column": 5},
                                             "EndPosition": {"Line": 20, "Column": 5}}]
    assert [m["SourcePolicyId"] for m in denied["MatchedStatements"]] == ["work"]  # only the Deny
    assert denied["MatchedStatements"][0]["StartPosition"] == {"Line": 21, "Column": 5}
    assert allowed["ResourceSpecificResults"] == [{"EvalResourceName": INDEX, "EvalResourceDecision": "allowed",
                                                   "MatchedStatements": allowed["MatchedStatements"],
                                                   "MissingContextValues": []}]

    # Several resources: one result per action, the most restrictive decision on top.
    out = iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=["s3vectors:QueryVectors"],
                                        ResourceArns=[INDEX, OTHER])
    (result,) = out["EvaluationResults"]
    assert result["EvalDecision"] == "implicitDeny"
    assert [(r["EvalResourceName"], r["EvalResourceDecision"]) for r in result["ResourceSpecificResults"]] == [
        (INDEX, "allowed"), (OTHER, "implicitDeny")]

    # The log-stream form of the log group ARN: `:*` covers streams, not the bare group.
    out = iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=["logs:PutLogEvents", "logs:CreateLogGroup"],
                                        ResourceArns=[f"{LOG_GROUP}:log-stream:2026/01/01/[$LATEST]abc"])
    assert [r["EvalDecision"] for r in out["EvaluationResults"]] == ["allowed", "implicitDeny"]
    # Without ResourceArns the resource is `*`, which an exact-ARN statement does not cover.
    out = iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=["s3vectors:QueryVectors"])
    assert results(out) == [("s3vectors:QueryVectors", "*", "implicitDeny")]
    assert "ResourceSpecificResults" not in out["EvaluationResults"][0]


def test_user_groups_managed_policies_and_context(aws):
    iam = aws.client("iam")
    user = iam.create_user(UserName="dev", Path="/team/")["User"]["Arn"]
    iam.create_group(GroupName="readers")
    iam.add_user_to_group(GroupName="readers", UserName="dev")
    iam.put_group_policy(GroupName="readers", PolicyName="read", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "s3vectors:GetVectors", "Resource": "*"}))
    managed = iam.create_policy(PolicyName="Tagged", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "s3vectors:PutVectors", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/team": "blue"}}}))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="dev", PolicyArn=managed)

    out = iam.simulate_principal_policy(PolicySourceArn=user, ActionNames=["s3vectors:GetVectors",
                                                                         "s3vectors:PutVectors"])
    get, put = out["EvaluationResults"]
    assert get["EvalDecision"] == "allowed" and get["MatchedStatements"][0]["SourcePolicyType"] == "group"
    assert put["EvalDecision"] == "implicitDeny" and put["MissingContextValues"] == ["aws:RequestTag/team"]
    entry = {"ContextKeyName": "aws:RequestTag/team", "ContextKeyValues": ["blue"], "ContextKeyType": "string"}
    out = iam.simulate_principal_policy(PolicySourceArn=user, ActionNames=["s3vectors:PutVectors"],
                                        ContextEntries=[entry])
    (put,) = out["EvaluationResults"]
    assert put["EvalDecision"] == "allowed" and put["MissingContextValues"] == []
    assert put["MatchedStatements"][0]["SourcePolicyId"] == "Tagged"
    assert put["MatchedStatements"][0]["SourcePolicyType"] == "user-managed"
    # Extra input policies join the simulation.
    out = iam.simulate_principal_policy(PolicySourceArn=user, ActionNames=["s3vectors:GetVectors"],
                                        PolicyInputList=[doc({"Effect": "Deny", "Action": "*", "Resource": "*"})])
    assert out["EvaluationResults"][0]["EvalDecision"] == "explicitDeny"
    assert out["EvaluationResults"][0]["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.1"
    # A group is a principal too.
    out = iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:group/readers",
                                        ActionNames=["s3vectors:GetVectors", "s3vectors:PutVectors"])
    assert [r["EvalDecision"] for r in out["EvaluationResults"]] == ["allowed", "implicitDeny"]


def test_permissions_boundary_limits_the_role(aws):
    iam = aws.client("iam")
    boundary = iam.create_policy(PolicyName="QueryOnly", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "s3vectors:QueryVectors", "Resource": "*"}))["Policy"]["Arn"]
    role = iam.create_role(RoleName="bounded", AssumeRolePolicyDocument=TRUST,
                           PermissionsBoundary=boundary)["Role"]["Arn"]
    iam.put_role_policy(RoleName="bounded", PolicyName="all", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "s3vectors:*", "Resource": "*"}))
    out = iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=["s3vectors:QueryVectors",
                                                                         "s3vectors:PutVectors"])
    query, put = out["EvaluationResults"]
    assert query["EvalDecision"] == "allowed"
    assert query["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}
    assert put["EvalDecision"] == "implicitDeny"
    assert put["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}


def test_errors_and_pagination(aws):
    iam = aws.client("iam")
    with pytest.raises(ClientError) as e:
        iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/missing", ActionNames=["s3:GetObject"])
    assert e.value.response["Error"]["Code"] == "NoSuchEntity"
    with pytest.raises(ClientError) as e:
        iam.simulate_principal_policy(PolicySourceArn="arn:aws:s3:::bucket-name-long", ActionNames=["s3:GetObject"])
    assert e.value.response["Error"]["Code"] == "InvalidInput"
    role = iam.create_role(RoleName="pages", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    actions = [f"s3vectors:Action{i}" for i in range(5)]
    first = iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=actions, MaxItems=3)
    assert first["IsTruncated"] is True and len(first["EvaluationResults"]) == 3
    rest = iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=actions, MaxItems=3, Marker=first["Marker"])
    assert rest["IsTruncated"] is False
    assert [r["EvalActionName"] for r in first["EvaluationResults"] + rest["EvaluationResults"]] == actions
    assert {r["EvalDecision"] for r in rest["EvaluationResults"]} == {"implicitDeny"}
