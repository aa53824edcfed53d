"""The local API Gateway data plane and the Lambda Runtime API."""

import json
import urllib.error
import urllib.request

from helpers import deploy_api, make_function, wait_active


def call(aws, api, path="/echo", body="{}", key=None, method="POST"):
    url = f"{aws.url}/restapis/{api}/prod/_user_request_{path}"
    headers = {"Content-Type": "application/json"}
    if key:
        headers["x-api-key"] = key
    req = urllib.request.Request(url, data=body.encode() if body is not None else None, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}"), dict(e.headers)


def setup(aws, **kw):
    fn = make_function(aws, "fn", **{k: v for k, v in kw.items() if k in ("timeout", "env")})
    wait_active(aws, "fn")
    return deploy_api(aws, fn, **{k: v for k, v in kw.items() if k in ("permission", "throttle")})


def test_proxy_event_and_response(aws):
    api, key, _, key_id = setup(aws)
    status, body, headers = call(aws, api, body='{"text": "hi"}', key=key)
    assert status == 201 and headers["x-marker"] == "m"
    event = body["event"]
    assert event["path"] == "/echo" and event["resource"] == "/echo" and event["httpMethod"] == "POST"
    assert event["body"] == '{"text": "hi"}'
    ctx = event["requestContext"]
    assert ctx["stage"] == "prod" and ctx["path"] == "/prod/echo" and ctx["apiId"] == api
    assert ctx["identity"]["apiKey"] == key and ctx["identity"]["apiKeyId"] == key_id and ctx["requestId"]
    # API Gateway adds the request id to the function's answer, as to its own.
    assert headers["x-amzn-RequestId"] == ctx["requestId"]
    assert body["marker"] == "one" and body["session"] is True


def test_api_key_is_required(aws):
    api, key, _, _ = setup(aws)
    assert call(aws, api)[:2] == (403, {"message": "Forbidden"})
    assert call(aws, api, key="wrong")[:2] == (403, {"message": "Forbidden"})
    assert call(aws, api, path="/other", key=key)[:2] == (403, {"message": "Missing Authentication Token"})
    assert call(aws, api, key=key, method="GET", body=None)[0] == 403


def test_disabled_key_or_unbound_plan_is_forbidden(aws):
    api, key, plan, key_id = setup(aws)
    apigw = aws.client("apigateway")
    apigw.update_api_key(apiKey=key_id, patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}])
    assert call(aws, api, key=key)[0] == 403


def test_usage_plan_throttle(aws):
    api, key, _, _ = setup(aws, throttle={"rateLimit": 0.01, "burstLimit": 2})
    statuses = [call(aws, api, key=key)[0] for _ in range(4)]
    assert statuses[:2] == [201, 201] and statuses[2:] == [429, 429]


def test_missing_lambda_permission_is_500(aws):
    api, key, _, _ = setup(aws, permission=False)
    assert call(aws, api, key=key)[:2] == (500, {"message": "Internal server error"})


def test_warm_reuse_and_restart_after_config_change(aws):
    api, key, _, _ = setup(aws)
    pid1 = call(aws, api, key=key)[1]["pid"]
    assert call(aws, api, key=key)[1]["pid"] == pid1
    aws.client("lambda").update_function_configuration(FunctionName="fn", Environment={"Variables": {"MARKER": "two"}})
    body = call(aws, api, key=key)[1]
    assert body["marker"] == "two" and body["pid"] != pid1


def test_crash_timeout_and_malformed_reply_are_502(aws):
    api, key, _, _ = setup(aws, timeout=1)
    for body in ("crash", "bad", "sleep"):
        assert call(aws, api, body=body, key=key)[:2] == (502, {"message": "Internal server error"}), body
    assert call(aws, api, key=key)[0] == 201


def test_concurrent_invocations_get_their_own_environments_up_to_the_concurrency(aws):
    import threading

    api, key, _, _ = setup(aws, timeout=5)
    aws.control("config", {"lambda_concurrency": 2})
    results = []

    def one():
        status, body, _ = call(aws, api, body="nap", key=key)
        results.append((status, body.get("pid")))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ok = [pid for status, pid in results if status == 201]
    # Two run at once in two environments; the third is throttled, which a REST proxy
    # integration answers as 500.
    assert len(ok) == 2 and len(set(ok)) == 2, results
    assert [s for s, _ in results].count(500) == 1, results
    # Both environments stay warm and are reused.
    status, body, _ = call(aws, api, key=key)
    assert status == 201 and body["pid"] in ok


def signed_call(aws, api, key_id, secret, service="execute-api", region="us-east-1", path="/echo", body="{}"):
    """POSTs to the stage signed with SigV4 (botocore's signer, as an SDK would)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{aws.url}/restapis/{api}/prod/_user_request_{path}"
    request = AWSRequest(method="POST", url=url, data=body.encode(), headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key_id, secret), service, region).add_auth(request)
    req = urllib.request.Request(url, data=body.encode(), headers=dict(request.headers), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def iam_method(aws, api):
    """Switches POST /echo to AWS_IAM without an API key (UpdateMethod) and redeploys."""
    apigw = aws.client("apigateway")
    res = next(r["id"] for r in apigw.get_resources(restApiId=api)["items"] if r["path"] == "/echo")
    out = apigw.update_method(restApiId=api, resourceId=res, httpMethod="POST", patchOperations=[
        {"op": "replace", "path": "/authorizationType", "value": "AWS_IAM"},
        {"op": "replace", "path": "/apiKeyRequired", "value": "false"}])
    assert out["authorizationType"] == "AWS_IAM" and out["apiKeyRequired"] is False
    aws.control("config", {"apigw_quotas": False})
    apigw.create_deployment(restApiId=api, stageName="prod")


def test_aws_iam_methods_need_a_signature_and_execute_api_invoke(aws):
    api, key, _, _ = setup(aws)
    iam_method(aws, api)
    # The API key is not a credential for an AWS_IAM method; nothing unsigned gets through.
    assert call(aws, api, key=key)[:2] == (403, {"message": "Missing Authentication Token"})
    admin = aws.control("credentials")
    admin_key, admin_secret = admin["AccessKeyId"], admin["SecretAccessKey"]
    status, body = signed_call(aws, api, admin_key, admin_secret)
    assert status == 201, body
    assert body["event"]["requestContext"]["identity"]["userArn"].startswith("arn:aws:iam::123456789012:user/")
    # Signed for another service or region, with a wrong secret, or by an unknown key.
    assert signed_call(aws, api, admin_key, admin_secret, service="s3") == (
        403, {"message": "Credential should be scoped to correct service: 'execute-api'. "})
    assert signed_call(aws, api, admin_key, admin_secret, region="eu-west-1")[0] == 403
    assert signed_call(aws, api, admin_key, "wrong")[1]["message"].startswith("The request signature we calculated")
    assert signed_call(aws, api, "AKIAUNKNOWN", "x") == (
        403, {"message": "The security token included in the request is invalid."})
    # A known identity is judged on the method's ARN: only an exact allow gets through.
    iam = aws.client("iam")
    arn = f"arn:aws:execute-api:us-east-1:123456789012:{api}/prod/POST/echo"
    for name, resource in (("other", f"arn:aws:execute-api:us-east-1:123456789012:{api}/prod/GET/echo"),
                           ("exact", arn)):
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": resource}]}))
    other = iam.create_access_key(UserName="other")["AccessKey"]
    exact = iam.create_access_key(UserName="exact")["AccessKey"]
    assert signed_call(aws, api, other["AccessKeyId"], other["SecretAccessKey"]) == (403, {
        "Message": f"User: arn:aws:iam::123456789012:user/other is not authorized to perform: "
                   f"execute-api:Invoke on resource: {arn}"})
    assert signed_call(aws, api, exact["AccessKeyId"], exact["SecretAccessKey"])[0] == 201


def test_update_method_takes_only_the_methods_own_fields(aws):
    api, _, _, _ = setup(aws)
    apigw = aws.client("apigateway")
    res = next(r["id"] for r in apigw.get_resources(restApiId=api)["items"] if r["path"] == "/echo")
    import botocore.exceptions
    import pytest

    for patch in ({"op": "replace", "path": "/authorizationType", "value": "MAGIC"},
                  {"op": "add", "path": "/apiKeyRequired", "value": "true"},
                  {"op": "replace", "path": "/httpMethod", "value": "GET"}):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            apigw.update_method(restApiId=api, resourceId=res, httpMethod="POST", patchOperations=[patch])
        assert e.value.response["Error"]["Code"] == "BadRequestException"
    assert apigw.get_method(restApiId=api, resourceId=res, httpMethod="POST")["authorizationType"] == "NONE"
