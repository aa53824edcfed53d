"""The original stack's real limits: SageMaker endpoint profiles (payload caps, concurrency,
tasks), API Gateway's payload and integration-timeout limits, Lambda's response cap and memory."""

import json
import os
import re
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from botocore.exceptions import ClientError
from helpers import deploy_api, make_function, wait_active

from localaws.launcher import Launched

ENDPOINT = "alex-embedding-endpoint"
# About 152 word pieces: four of them make a ~5 MB token-level answer (over 4 MiB, under 6 MiB).
PARAGRAPH = "the company reported quarterly revenue growth " * 25

LIMITS_BOOTSTRAP = r'''#!/usr/bin/env python3
import json, os, time, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.read())
    with open(os.environ["TRACE"], "a") as f:
        f.write("start\n")
    try:
        cmd = json.loads(event.get("body") or "{}")
    except ValueError:
        cmd = {}
    time.sleep(cmd.get("sleep", 0))
    if cmd.get("allocate_mb"):
        b = bytearray(cmd["allocate_mb"] * 1024 * 1024)
        b[::4096] = b"\x01" * len(range(0, len(b), 4096))
    cpu = None
    if cmd.get("spin"):
        # Busy for `spin` seconds of wall time; reports the CPU seconds it got.
        wall, cpu = time.monotonic(), time.process_time()
        while time.monotonic() - wall < cmd["spin"]:
            pass
        cpu = time.process_time() - cpu
    pad = "x" * cmd.get("answer_bytes", 0)
    with open(os.environ["TRACE"], "a") as f:
        f.write("done\n")
    out = json.dumps({"statusCode": 200, "body": json.dumps({"size": len(pad), "pad": pad, "cpu": cpu})}).encode()
    urllib.request.urlopen(urllib.request.Request(api + rid + "/response", data=out, method="POST")).read()
'''


# ---- SageMaker ------------------------------------------------------------------------------

def invoke_raw(aws, payload, endpoint=ENDPOINT, client=None):
    c = client or aws.client("sagemaker-runtime")
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return c.invoke_endpoint(EndpointName=endpoint, ContentType="application/json", Body=body)["Body"].read()


def invoke(aws, payload, endpoint=ENDPOINT):
    return json.loads(invoke_raw(aws, payload, endpoint))


def last_invoke(aws):
    return [c for c in aws.requests() if c["operation"] == "InvokeEndpoint"][-1]


def test_endpoint_profiles_defaults_update_and_reset(aws):
    out = aws.control("endpoints")
    assert out["endpoints"] == [ENDPOINT]
    assert out["configs"][ENDPOINT] == {"profile": "serverless", "max_concurrency": 2,
                                        "task": "feature-extraction", "latency_ms": 0.0,
                                        "cold_start_ms": 1500.0, "idle_secs": 300.0, "dimension": 384}
    aws.control("endpoints", {"name": "rt", "profile": "realtime"})
    aws.control("endpoints", {"name": ENDPOINT, "latency_ms": 5})
    out = aws.control("endpoints", {"name": ENDPOINT, "task": "tei"})
    assert out["endpoints"] == [ENDPOINT, "rt"]
    assert out["configs"]["rt"] == {"profile": "realtime", "max_concurrency": 0,
                                    "task": "feature-extraction", "latency_ms": 0.0,
                                    "cold_start_ms": 0.0, "idle_secs": 0.0, "dimension": 384}
    assert out["configs"][ENDPOINT]["latency_ms"] == 5.0  # kept by the second update
    assert out["configs"][ENDPOINT]["task"] == "tei"
    for bad in ({"name": "x", "profile": "gpu"}, {"name": "x", "task": "summarize"}, {"profile": "realtime"}):
        with pytest.raises(urllib.error.HTTPError) as e:
            aws.control("endpoints", bad)
        assert e.value.code == 400
    aws.control("reset", {})
    out = aws.control("endpoints")
    assert out["endpoints"] == [ENDPOINT] and out["configs"][ENDPOINT]["task"] == "feature-extraction"


def test_endpoint_profile_flag_sets_start_time_endpoints():
    with Launched("--endpoint", "e1", "--endpoint-profile", "realtime", prefix="localaws-profile-") as local:
        out = local.control("endpoints")
    assert out["configs"] == {"e1": {"profile": "realtime", "max_concurrency": 0,
                                     "task": "feature-extraction", "latency_ms": 0.0,
                                     "cold_start_ms": 0.0, "idle_secs": 0.0, "dimension": 384}}


def test_cold_start_first_call_waits_others_are_not_ready_then_warm(aws):
    aws.control("endpoints", {"name": ENDPOINT, "cold_start_ms": 1500, "idle_secs": 1.0})
    outcomes = {}

    def first():
        started = time.monotonic()
        invoke_raw(aws, {"inputs": "hi"})
        outcomes["first"] = time.monotonic() - started

    t = threading.Thread(target=first)
    t.start()
    time.sleep(0.3)
    with pytest.raises(ClientError) as e:
        invoke_raw(aws, {"inputs": "hi"})
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 429 and err["Error"]["Code"] == "ModelNotReadyException"
    assert "still being provisioned" in err["Error"]["Message"]
    t.join(10)
    assert outcomes["first"] >= 1.4
    started = time.monotonic()
    invoke_raw(aws, {"inputs": "hi"})
    assert time.monotonic() - started < 1.0  # warm
    time.sleep(1.2)  # idle past idle_secs: cold again
    started = time.monotonic()
    invoke_raw(aws, {"inputs": "hi"})
    assert time.monotonic() - started >= 1.4
    aws.control("endpoints", {"name": ENDPOINT, "cold": True, "idle_secs": 300})
    started = time.monotonic()
    invoke_raw(aws, {"inputs": "hi"})
    assert time.monotonic() - started >= 1.4


def test_realtime_endpoints_do_not_go_cold(aws):
    aws.control("endpoints", {"name": "rt", "profile": "realtime", "latency_ms": 500})
    outcomes = []

    def one():
        try:
            invoke_raw(aws, {"inputs": "hi"}, endpoint="rt")
            outcomes.append("ok")
        except ClientError as e:
            outcomes.append(e.response["Error"]["Code"])

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes == ["ok"] * 3


def test_serverless_request_over_4_mib_is_oversize_validation_error(aws):
    body = json.dumps({"inputs": "x" * (4 * 1024 * 1024)}).encode()
    with pytest.raises(ClientError) as e:
        invoke_raw(aws, body)
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400 and err["Error"]["Code"] == "ValidationError"
    assert re.fullmatch(r"Request [0-9a-f-]{36} has oversize body\.", err["Error"]["Message"])
    assert last_invoke(aws)["request_bytes"] == len(body)


def test_serverless_answer_over_4_mib_is_model_error(aws):
    with pytest.raises(ClientError) as e:
        invoke(aws, {"inputs": [PARAGRAPH] * 4})
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 424 and err["Error"]["Code"] == "ModelError"
    logged = last_invoke(aws)
    assert logged["answer_bytes"] > 4_194_304
    assert err["Error"]["Message"].startswith(
        f'Received server error (500) from primary with message "Message size exceed limit: {logged["answer_bytes"]}".')


def test_realtime_accepts_5_mb_answer_and_refuses_request_over_6_mib(aws):
    aws.control("endpoints", {"name": "rt", "profile": "realtime"})
    answer = invoke_raw(aws, {"inputs": [PARAGRAPH] * 4}, endpoint="rt")
    assert 4_194_304 < len(answer) <= 6_291_456
    assert np.asarray(json.loads(answer)).shape == (4, 1, 152, 384)
    with pytest.raises(ClientError) as e:
        invoke_raw(aws, json.dumps({"inputs": "x" * (6 * 1024 * 1024)}).encode(), endpoint="rt")
    err = e.value.response
    # An unmodelled front-end error: botocore falls back to the status code for the error code.
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 413 and err["Error"]["Code"] == "413"
    assert err["Error"]["Message"] == "HTTP content length exceeded 6291456 bytes."
    assert "x-amzn-errortype" not in err["ResponseMetadata"]["HTTPHeaders"]


def test_third_concurrent_call_on_serverless_endpoint_is_throttled(aws):
    # Warm: this test is about concurrency, not the cold start (test_cold_start_* below).
    aws.control("endpoints", {"name": ENDPOINT, "cold_start_ms": 0})
    aws.control("endpoints", {"name": ENDPOINT, "max_concurrency": 2, "latency_ms": 1500})
    clients = [aws.client("sagemaker-runtime") for _ in range(3)]
    start = threading.Barrier(3)
    outcomes = []

    def one(client):
        start.wait()
        try:
            invoke_raw(aws, {"inputs": "hi"}, client=client)
            outcomes.append("ok")
        except ClientError as e:
            outcomes.append(e.response["Error"]["Code"])

    threads = [threading.Thread(target=one, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["ThrottlingException", "ok", "ok"]


def test_tei_task_answers_pooled_normalised_vectors(aws):
    texts = ["This is an example sentence", "Each sentence is converted.", "Café déjà vu — 東京"]
    aws.control("endpoints", {"name": "tei", "task": "tei"})
    single = invoke(aws, {"inputs": texts[0], "parameters": {"truncation": True}}, endpoint="tei")
    assert np.asarray(single).shape == (1, 384)
    batch = invoke(aws, {"inputs": texts}, endpoint="tei")
    assert np.asarray(batch).shape == (3, 384)
    tokens = invoke(aws, {"inputs": texts})
    for vec, item in zip(batch, tokens):
        v = np.asarray(vec, dtype=np.float64)
        pooled = np.asarray(item[0], dtype=np.float64).mean(0)
        assert abs(np.linalg.norm(v) - 1.0) < 1e-5
        assert v @ pooled / (np.linalg.norm(v) * np.linalg.norm(pooled)) > 0.9999
    assert np.allclose(single[0], batch[0], atol=1e-6)
    raw = invoke(aws, {"inputs": texts[0], "normalize": False}, endpoint="tei")
    assert abs(np.linalg.norm(raw[0]) - 1.0) > 1e-3


def test_tei_refuses_inputs_over_its_max_length_unless_truncate(aws):
    aws.control("endpoints", {"name": "tei", "task": "tei"})
    with pytest.raises(ClientError) as e:
        invoke(aws, {"inputs": ["word " * 400]}, endpoint="tei")
    err = e.value.response["Error"]
    assert err["Code"] == "ModelError" and "Received client error (413)" in err["Message"]
    assert "must have less than 256 tokens" in err["Message"]
    invoke(aws, {"inputs": ["word " * 400, "hi"], "truncate": True}, endpoint="tei")
    assert last_invoke(aws)["tokens"] == [256, 3]


def test_request_log_records_inputs_tokens_and_sizes(aws):
    payload = {"inputs": ["This is an example sentence", "Each sentence is converted."]}
    answer = invoke_raw(aws, payload)
    logged = last_invoke(aws)
    assert logged["inputs"] == 2 and logged["tokens"] == [7, 7]
    assert logged["request_bytes"] == len(json.dumps(payload)) and logged["answer_bytes"] == len(answer)


# ---- API Gateway and Lambda -------------------------------------------------------------------

def call(aws, api, body):
    req = urllib.request.Request(f"{aws.url}/restapis/{api}/prod/_user_request_/echo", data=body.encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def limits_api(aws, tmp_path, name, timeout=3, memory=128):
    trace = tmp_path / "trace"
    fn = make_function(aws, name, timeout=timeout, memory=memory, script=LIMITS_BOOTSTRAP, env={"TRACE": str(trace)})
    wait_active(aws, name)
    api, _, _, _ = deploy_api(aws, fn, key_required=False)
    return api, trace


def log_since(aws, name, offset):
    path = os.path.join(aws.state, f"lambda-{name}.log")
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def log_size(aws, name):
    path = os.path.join(aws.state, f"lambda-{name}.log")
    return os.path.getsize(path) if os.path.exists(path) else 0


def test_integration_timeout_is_504_while_the_invocation_runs_on(aws, tmp_path):
    # API Gateway's real 29 s is shortened to 1.5 s so the test takes seconds; the function sleeps
    # 3 s, past the integration timeout but within its own 6 s timeout.
    aws.control("config", {"apigw_integration_timeout_secs": 1.5})
    api, trace = limits_api(aws, tmp_path, "slow-fn", timeout=6)
    started = time.monotonic()
    status, body, _ = call(aws, api, json.dumps({"sleep": 3}))
    elapsed = time.monotonic() - started
    assert (status, json.loads(body)) == (504, {"message": "Endpoint request timed out"})
    assert 1.4 < elapsed < 2.9
    assert trace.read_text() == "start\n"
    end = time.monotonic() + 10
    while trace.read_text() != "start\ndone\n" and time.monotonic() < end:
        time.sleep(0.1)
    assert trace.read_text() == "start\ndone\n"


def test_event_over_6_mib_is_request_too_long_and_not_invoked(aws, tmp_path):
    api, trace = limits_api(aws, tmp_path, "big-fn")
    status, body, headers = call(aws, api, json.dumps({"pad": "a" * 6_500_000}))
    assert (status, json.loads(body)) == (413, {"message": "Request Too Long"})
    assert headers["x-amzn-ErrorType"] == "BadRequestException"
    assert not trace.exists()


def test_body_over_10_mib_is_plain_text_413(aws, tmp_path):
    api, trace = limits_api(aws, tmp_path, "big-fn")
    status, body, headers = call(aws, api, "a" * (10 * 1024 * 1024 + 1))
    assert (status, body) == (413, b"HTTP content length exceeded 10485760 bytes.")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert not trace.exists()


def test_lambda_response_over_6291556_bytes_is_502(aws, tmp_path):
    api, _ = limits_api(aws, tmp_path, "chatty-fn")
    status, body, _ = call(aws, api, json.dumps({"answer_bytes": 6_000_000}))
    assert status == 200 and json.loads(body)["size"] == 6_000_000
    offset = log_size(aws, "chatty-fn")
    status, body, _ = call(aws, api, json.dumps({"answer_bytes": 7_000_000}))
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
    assert "Response payload size exceeded maximum allowed payload size (6291556 bytes)." in log_since(aws, "chatty-fn", offset)


@pytest.mark.parametrize("memory", [128, 512])
def test_an_environment_gets_cpu_in_proportion_to_its_memory(aws, tmp_path, memory):
    # Lambda: 1,769 MB is one vCPU. A busy loop of 1.5 s gets memory/1769 of it (128 MB: 7.2%).
    api, _ = limits_api(aws, tmp_path, f"spin-{memory}", timeout=10, memory=memory)
    offset = log_size(aws, f"spin-{memory}")
    status, body, _ = call(aws, api, json.dumps({"spin": 1.5}))
    assert status == 200, body
    share = json.loads(body)["cpu"] / 1.5
    assert memory / 1769 * 0.6 < share < memory / 1769 * 1.4, share
    log = log_since(aws, f"spin-{memory}", offset)
    assert "REPORT RequestId" in log and "unthrottled" not in log


def test_without_a_cpu_quota_every_start_says_so_and_reports_mark_it(aws, tmp_path):
    aws.control("config", {"lambda_cpu_quota": False})
    try:
        api, _ = limits_api(aws, tmp_path, "free-fn", timeout=10)
        status, body, _ = call(aws, api, json.dumps({"spin": 0.5}))
        assert status == 200
        assert json.loads(body)["cpu"] > 0.3
        log = log_since(aws, "free-fn", 0)
        assert "runs without a CPU quota (lambda_cpu_quota is off)" in log
        assert re.search(r"REPORT RequestId: .*\tCPU Quota: none \(unthrottled\)\t\n", log), log
    finally:
        aws.control("config", {"lambda_cpu_quota": True})


def test_out_of_memory_kills_the_runtime_and_is_502(aws, tmp_path):
    # 10 s: at 128 MB's CPU share (7.2% of a core) touching 128 MB of pages takes seconds.
    api, _ = limits_api(aws, tmp_path, "hungry-fn", timeout=10, memory=128)
    assert call(aws, api, json.dumps({"allocate_mb": 16}))[0] == 200
    offset = log_size(aws, "hungry-fn")
    status, body, _ = call(aws, api, json.dumps({"allocate_mb": 200}))
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
    log = log_since(aws, "hungry-fn", offset)
    assert re.search(r"RequestId: [0-9a-f-]{36} Error: Runtime exited with error: signal: killed\nRuntime.OutOfMemory\n", log)
    # A new execution environment serves the next call.
    assert call(aws, api, "{}")[0] == 200


def test_describe_endpoint_and_config_show_the_profile(aws):
    sm = aws.client("sagemaker")
    ep = sm.describe_endpoint(EndpointName="alex-embedding-endpoint")
    assert ep["EndpointStatus"] == "InService"
    assert ep["ProductionVariants"][0]["CurrentServerlessConfig"]["MaxConcurrency"] == 2
    cfg = sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
    assert cfg["ProductionVariants"][0]["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 2}
    aws.control("endpoints", {"name": "rt", "profile": "realtime"})
    cfg = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(EndpointName="rt")["EndpointConfigName"])
    assert "ServerlessConfig" not in cfg["ProductionVariants"][0]
    assert cfg["ProductionVariants"][0]["InstanceType"].startswith("ml.")
    try:
        sm.describe_endpoint(EndpointName="missing")
        raise AssertionError("an unknown endpoint was described")
    except sm.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "ValidationException"
