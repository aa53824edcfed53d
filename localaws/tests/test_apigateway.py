"""API Gateway control-plane behaviours moto lacks."""

import time

import pytest
from botocore.exceptions import ClientError
from helpers import deploy_api, make_function


def code(e):
    return e.value.response["Error"]["Code"]


def test_tags_by_arn_for_apis_keys_and_plans(aws):
    apigw = aws.client("apigateway")
    api = apigw.create_rest_api(name="a", tags={"stack": "alex"})["id"]
    key = apigw.create_api_key(name="k", tags={"stack": "alex"})["id"]
    plan = apigw.create_usage_plan(name="p")["id"]
    for kind, ident in (("restapis", api), ("apikeys", key), ("usageplans", plan)):
        arn = f"arn:aws:apigateway:us-east-1::/{kind}/{ident}"
        apigw.tag_resource(resourceArn=arn, tags={"managed-by": "deployer"})
        tags = apigw.get_tags(resourceArn=arn)["tags"]
        assert tags["managed-by"] == "deployer"
        apigw.untag_resource(resourceArn=arn, tagKeys=["managed-by"])
        assert "managed-by" not in apigw.get_tags(resourceArn=arn)["tags"]
    assert apigw.get_tags(resourceArn=f"arn:aws:apigateway:us-east-1::/restapis/{api}")["tags"] == {"stack": "alex"}
    with pytest.raises(ClientError) as e:
        apigw.get_tags(resourceArn="arn:aws:apigateway:us-east-1::/restapis/missing")
    assert code(e) == "NotFoundException"


def test_deleting_missing_api_or_plan_is_not_found(aws):
    apigw = aws.client("apigateway")
    with pytest.raises(ClientError) as e:
        apigw.delete_rest_api(restApiId="nope")
    assert code(e) == "NotFoundException"
    with pytest.raises(ClientError) as e:
        apigw.delete_usage_plan(usagePlanId="nope")
    assert code(e) == "NotFoundException"


def test_usage_plan_with_stages_cannot_be_deleted_and_stages_must_exist(aws):
    apigw = aws.client("apigateway")
    api, _, plan, _ = deploy_api(aws, make_function(aws))
    with pytest.raises(ClientError) as e:
        apigw.delete_usage_plan(usagePlanId=plan)
    assert code(e) == "BadRequestException"
    with pytest.raises(ClientError) as e:
        apigw.create_usage_plan(name="x", apiStages=[{"apiId": api, "stage": "missing"}])
    assert code(e) == "BadRequestException"
    aws.control("config", {"apigw_quotas": False})
    apigw.update_usage_plan(usagePlanId=plan, patchOperations=[{"op": "remove", "path": "/apiStages", "value": f"{api}:prod"}])
    apigw.delete_usage_plan(usagePlanId=plan)


def test_duplicates_conflict(aws):
    apigw = aws.client("apigateway")
    api, _, plan, key = deploy_api(aws, make_function(aws))
    with pytest.raises(ClientError) as e:
        apigw.create_usage_plan_key(usagePlanId=plan, keyId=key, keyType="API_KEY")
    assert code(e) == "ConflictException"
    root = [r for r in apigw.get_resources(restApiId=api)["items"] if r["path"] == "/"][0]["id"]
    with pytest.raises(ClientError) as e:
        apigw.create_resource(restApiId=api, parentId=root, pathPart="echo")
    assert code(e) == "ConflictException"


@pytest.mark.parametrize("op", ["CreateRestApi", "CreateDeployment", "DeleteRestApi", "UpdateUsagePlan"])
def test_control_plane_quotas_answer_429_with_retry_after(aws, op):
    apigw = aws.client("apigateway")
    deployed, _, plan, _ = deploy_api(aws, make_function(aws))
    aws.control("config", {"apigw_quotas": False})
    apis = [deployed, apigw.create_rest_api(name="q1")["id"]]
    aws.control("config", {"apigw_quotas": True, "clock_scale": 0.1})
    calls = {
        "CreateRestApi": lambda i: apigw.create_rest_api(name=f"n{i}"),
        "CreateDeployment": lambda i: apigw.create_deployment(restApiId=apis[0], stageName="prod"),
        "DeleteRestApi": lambda i: apigw.delete_rest_api(restApiId=apis[i]),
        "UpdateUsagePlan": lambda i: apigw.update_usage_plan(usagePlanId=plan, patchOperations=[{"op": "replace", "path": "/name", "value": f"p{i}"}]),
    }
    calls[op](0)
    with pytest.raises(ClientError) as e:
        calls[op](1)
    assert code(e) == "TooManyRequestsException"
    assert int(e.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) >= 1
    interval = {"CreateRestApi": 3, "CreateDeployment": 5, "DeleteRestApi": 30, "UpdateUsagePlan": 20}[op] * 0.1
    time.sleep(interval)
    calls[op](1)


def test_patched_usage_plan_limits_are_answered_as_numbers(aws):
    import json
    import urllib.request

    apigw = aws.client("apigateway")
    plan = apigw.create_usage_plan(name="p")["id"]
    apigw.update_usage_plan(usagePlanId=plan, patchOperations=[
        {"op": "replace", "path": "/throttle/rateLimit", "value": "100"},
        {"op": "replace", "path": "/quota/limit", "value": "10000"},
        {"op": "replace", "path": "/quota/period", "value": "MONTH"},
    ])
    # Read the raw JSON: botocore would coerce strings, a typed SDK cannot.
    req = urllib.request.Request(f"{aws.url}/usageplans/{plan}", headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/apigateway/aws4_request"})
    with urllib.request.urlopen(req) as r:
        raw = json.loads(r.read())
    assert raw["quota"] == {"limit": 10000, "period": "MONTH"}
    assert raw["throttle"]["rateLimit"] == 100.0


def test_method_settings_are_removed_by_resource_and_method(aws):
    apigw = aws.client("apigateway")
    aws.control("config", {"apigw_quotas": False})
    api = apigw.create_rest_api(name="s")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    apigw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    stage = "prod"
    apigw.create_deployment(restApiId=api, stageName=stage)
    apigw.update_stage(restApiId=api, stageName=stage, patchOperations=[
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "1"},
        {"op": "replace", "path": "/variables/debug", "value": "1"}])
    assert "*/*" in apigw.get_stage(restApiId=api, stageName=stage)["methodSettings"]
    out = apigw.update_stage(restApiId=api, stageName=stage, patchOperations=[
        {"op": "remove", "path": "/*/*"}, {"op": "remove", "path": "/variables/debug"}])
    assert out.get("methodSettings", {}) == {}
    got = apigw.get_stage(restApiId=api, stageName=stage)
    assert got.get("methodSettings", {}) == {} and got.get("variables", {}) == {}
