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
