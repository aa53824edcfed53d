"""Control endpoints: request log, faults, latency, reset; the server's connections."""

import http.client
import time

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError


def test_request_log_names_service_operation_and_mutation(aws):
    logs = aws.client("logs")
    logs.create_log_group(logGroupName="/g")
    logs.describe_log_groups()
    aws.client("iam").list_roles()
    calls = aws.requests()
    assert [(c["service"], c["operation"], c["mutating"]) for c in calls] == [
        ("logs", "CreateLogGroup", True), ("logs", "DescribeLogGroups", False), ("iam", "ListRoles", False)]


def test_fault_500_and_429_are_protocol_correct(aws):
    logs = aws.client("logs")
    aws.control("faults", {"after": 1, "kind": "500"})
    with pytest.raises(ClientError) as e:
        logs.create_log_group(logGroupName="/a")
    assert e.value.response["Error"]["Code"] == "InternalFailure"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    iam = aws.client("iam")
    aws.control("faults", {"after": 1, "kind": "429"})
    with pytest.raises(ClientError) as e:
        iam.create_user(UserName="u")
    assert e.value.response["Error"]["Code"] == "Throttling"
    # reads do not count towards the fault's position
    aws.control("faults", {"after": 2, "kind": "500"})
    logs.describe_log_groups()
    logs.create_log_group(logGroupName="/b")
    with pytest.raises(ClientError):
        logs.create_log_group(logGroupName="/c")
    groups = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
    assert groups == ["/b"]


def test_drop_after_processing_takes_effect_but_loses_the_answer(aws):
    logs = aws.client("logs")
    aws.control("faults", {"after": 1, "kind": "drop"})
    with pytest.raises((ConnectionClosedError, EndpointConnectionError, ClientError)):
        logs.create_log_group(logGroupName="/lost")
    assert [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == ["/lost"]


def test_latency_knob(aws):
    logs = aws.client("logs")
    logs.describe_log_groups()
    aws.control("config", {"latency_ms": 200})
    start = time.monotonic()
    logs.describe_log_groups()
    assert time.monotonic() - start >= 0.2


def test_every_aws_call_takes_the_default_latency(aws):
    # A call to an AWS API takes a round trip: 10 ms unless a test sets otherwise.
    assert aws.control("config", {})["latency_ms"] == 10.0
    logs = aws.client("logs")
    logs.describe_log_groups()
    start = time.monotonic()
    for _ in range(5):
        logs.describe_log_groups()
    assert time.monotonic() - start >= 0.05


def test_connections_are_kept_alive_like_aws(aws):
    conn = http.client.HTTPConnection("127.0.0.1", aws.port, timeout=10)
    conn.request("GET", "/_localaws/health")
    first = conn.getresponse()
    assert first.status == 200 and first.getheader("Connection") != "close"
    first.read()
    sock = conn.sock
    assert sock is not None
    # The second request goes over the same socket (http.client reopens a closed one).
    conn.request("POST", "/_localaws/config", body=b"{}", headers={"Content-Type": "application/json"})
    second = conn.getresponse()
    assert second.status == 200
    second.read()
    assert conn.sock is sock
    # A client that asks for the connection to close gets it closed.
    conn.request("GET", "/_localaws/health", headers={"Connection": "close"})
    last = conn.getresponse()
    assert last.getheader("Connection") == "close"
    last.read()
    assert conn.sock is None
    conn.close()


def test_a_chunked_request_body_is_read(aws):
    conn = http.client.HTTPConnection("127.0.0.1", aws.port, timeout=10)
    conn.request("POST", "/_localaws/config", body=iter([b'{"latency', b'_ms": 0}']),
                 headers={"Content-Type": "application/json"}, encode_chunked=True)
    resp = conn.getresponse()
    assert resp.status == 200 and b'"latency_ms": 0.0' in resp.read()
    conn.close()


def test_reset_clears_state(aws):
    aws.client("logs").create_log_group(logGroupName="/x")
    aws.control("reset", {})
    assert aws.client("logs").describe_log_groups()["logGroups"] == []
    assert aws.requests() == [{"service": "logs", "operation": "DescribeLogGroups", "mutating": False, "status": 200, "fault": ""}]
