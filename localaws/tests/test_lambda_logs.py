"""Lambda ships each execution environment's output to CloudWatch Logs as its execution role."""

import json
import re
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError
from helpers import deploy_api, make_function, wait_active

ACCOUNT = "123456789012"
GROUP = "/aws/lambda/{}"
STREAM = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")

# Prints to stdout and stderr (unbuffered writes), then answers.
BOOTSTRAP = r'''#!/usr/bin/env python3
import json, os, sys, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
print("cold start in " + os.environ["AWS_LAMBDA_LOG_STREAM_NAME"], flush=True)
while True:
    with urllib.request.urlopen(api + "next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.read())
    body = json.loads(event.get("body") or "{}")
    sys.stdout.write("handling " + body.get("word", "") + "\nsecond line\n")
    sys.stdout.flush()
    sys.stderr.write("warning on stderr\n")
    sys.stderr.flush()
    if body.get("crash"):
        sys.exit(3)
    out = json.dumps({"statusCode": 200, "body": json.dumps({"stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"],
                                                             "group": os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]})})
    urllib.request.urlopen(urllib.request.Request(api + rid + "/response", data=out.encode(), method="POST")).read()
'''


def logs_policy(name, actions=("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")):
    arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/{name}"
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": list(actions), "Resource": [arn, f"{arn}:*"]}]})


def setup(aws, name, policy=None):
    fn = make_function(aws, name, script=BOOTSTRAP)
    if policy is not None:
        aws.client("iam").put_role_policy(RoleName=f"{name}-role", PolicyName="logs", PolicyDocument=policy)
    wait_active(aws, name)
    api, _, _, _ = deploy_api(aws, fn, key_required=False)
    return api


def call(aws, api, body):
    req = urllib.request.Request(f"{aws.url}/restapis/{api}/prod/_user_request_/echo", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def messages(aws, name, **kw):
    out = aws.client("logs").filter_log_events(logGroupName=GROUP.format(name), **kw)
    return [e["message"] for e in out["events"]], out["events"]


def test_invocation_output_and_platform_lines_reach_cloudwatch_logs(aws):
    api = setup(aws, "shipped", logs_policy("shipped"))
    before = int(time.time() * 1000)
    status, body = call(aws, api, {"word": "alpha"})
    assert status == 200
    assert body["group"] == "/aws/lambda/shipped" and STREAM.match(body["stream"])
    logs = aws.client("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/lambda/shipped")["logStreams"]
    assert [s["logStreamName"] for s in streams] == [body["stream"]]
    got, events = messages(aws, "shipped")
    assert got[0].startswith("INIT_START Runtime Version: ")
    assert got[1] == f"cold start in {body['stream']}\n"
    assert re.fullmatch(r"START RequestId: ([0-9a-f-]{36}) Version: \$LATEST\n", got[2])
    rid = got[2].split()[2]
    assert got[3:6] == ["handling alpha\n", "second line\n", "warning on stderr\n"]
    assert got[6] == f"END RequestId: {rid}\n"
    assert re.fullmatch(rf"REPORT RequestId: {rid}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\t"
                        r"Max Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t\n", got[7])
    assert all(e["logStreamName"] == body["stream"] and e["timestamp"] >= before - 1000 for e in events)
    # GetLogEvents reads the same stream in order.
    read = logs.get_log_events(logGroupName="/aws/lambda/shipped", logStreamName=body["stream"], startFromHead=True)
    assert [e["message"] for e in read["events"]] == got

    # A warm invocation: same stream, no INIT_START, no Init Duration.
    later = int(time.time() * 1000) + 1
    time.sleep(0.01)
    assert call(aws, api, {"word": "beta"})[1]["stream"] == body["stream"]
    got, _ = messages(aws, "shipped", startTime=later)
    assert got[0].startswith("START RequestId: ") and got[1] == "handling beta\n"
    assert got[-1].startswith("REPORT RequestId: ") and "Init Duration" not in got[-1]
    # A plain-term filter pattern.
    assert messages(aws, "shipped", filterPattern="REPORT")[0] == [m for m in messages(aws, "shipped")[0]
                                                                    if "REPORT" in m]
    assert len(messages(aws, "shipped", filterPattern="REPORT")[0]) == 2
    assert messages(aws, "shipped", filterPattern="beta")[0] == ["handling beta\n"]


def test_a_new_execution_environment_writes_a_new_stream_and_crash_lines(aws):
    api = setup(aws, "crashy", logs_policy("crashy"))
    first = call(aws, api, {"word": "one"})[1]["stream"]
    assert call(aws, api, {"crash": True})[0] == 502
    got, _ = messages(aws, "crashy", logStreamNames=[first])
    assert got[-2].endswith("Error: Runtime exited with error: exit status 3\n") and got[-1] == "Runtime.ExitError\n"
    assert got[-3].startswith("REPORT RequestId: ") and got[-4].startswith("END RequestId: ")
    second = call(aws, api, {"word": "two"})[1]["stream"]
    assert second != first and STREAM.match(second)
    names = {s["logStreamName"] for s in aws.client("logs").describe_log_streams(logGroupName="/aws/lambda/crashy")["logStreams"]}
    assert names == {first, second}


def test_without_permission_to_create_the_group_nothing_is_shipped(aws):
    # No logs permission at all: the group is not created, the lines are dropped.
    api = setup(aws, "silent")
    assert call(aws, api, {"word": "x"})[0] == 200
    assert aws.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/silent")["logGroups"] == []
    # The local log file still has them.
    with open(f"{aws.state}/lambda-silent.log") as f:
        assert "handling x\n" in f.read()


def test_an_existing_group_needs_only_stream_and_put_permissions(aws):
    # Like the deployer's policy: CreateLogStream and PutLogEvents on the group it created.
    aws.client("logs").create_log_group(logGroupName="/aws/lambda/precreated")
    api = setup(aws, "precreated", logs_policy("precreated", ("logs:CreateLogStream", "logs:PutLogEvents")))
    assert call(aws, api, {"word": "y"})[0] == 200
    assert "handling y\n" in messages(aws, "precreated")[0]
    # Without PutLogEvents the stream exists but stays empty.
    aws.client("logs").create_log_group(logGroupName="/aws/lambda/nowrite")
    api = setup(aws, "nowrite", logs_policy("nowrite", ("logs:CreateLogStream",)))
    assert call(aws, api, {"word": "z"})[0] == 200
    streams = aws.client("logs").describe_log_streams(logGroupName="/aws/lambda/nowrite")["logStreams"]
    assert len(streams) == 1 and messages(aws, "nowrite")[0] == []


def test_an_explicit_deny_on_put_log_events_drops_the_lines(aws):
    deny = json.loads(logs_policy("denied"))
    deny["Statement"].append({"Effect": "Deny", "Action": "logs:PutLogEvents", "Resource": "*"})
    api = setup(aws, "denied", json.dumps(deny))
    assert call(aws, api, {"word": "w"})[0] == 200
    assert len(aws.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/denied")["logGroups"]) == 1
    assert messages(aws, "denied")[0] == []


def test_filter_patterns_are_matched_not_ignored(aws):
    logs = aws.client("logs")
    logs.create_log_group(logGroupName="/app/p")
    logs.create_log_stream(logGroupName="/app/p", logStreamName="s")
    lines = ["ERROR 500 Exception thrown\n", "WARN slow request\n", "INFO done\n", "ERROR Exiting now\n",
             "request-id=abc-123\n"]
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName="/app/p", logStreamName="s",
                        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(lines)])

    def match(pattern):
        return [e["message"] for e in logs.filter_log_events(logGroupName="/app/p", filterPattern=pattern)["events"]]

    assert match("") == lines
    assert match("ERROR") == [lines[0], lines[3]]
    assert match("error") == []  # case-sensitive
    assert match("ERROR Exception") == [lines[0]]
    assert match("?WARN ?INFO") == [lines[1], lines[2]]
    assert match("ERROR -Exiting") == [lines[0]]
    assert match("500") == [lines[0]]
    assert match('"slow request"') == [lines[1]]
    assert match('"abc-123"') == [lines[4]]
    assert match("%^WARN|^INFO%") == [lines[1], lines[2]]
    assert match("%[0-9]{3}%") == [lines[0], lines[4]]
    assert logs.filter_log_events(logGroupName="/app/p", startTime=now + 3)["events"][0]["message"] == lines[3]
    for pattern in ('{ $.level = "ERROR" }', "[ip, user]", "abc-123", "%(WARN|INFO)%"):
        with pytest.raises(ClientError) as e:
            match(pattern)
        assert e.value.response["Error"]["Code"] == "InvalidParameterException", pattern


def test_filter_log_events_interleaves_streams_by_time(aws):
    logs = aws.client("logs")
    logs.create_log_group(logGroupName="/app/i")
    now = int(time.time() * 1000)
    for stream, offsets in (("a", (0, 2)), ("b", (1, 3))):
        logs.create_log_stream(logGroupName="/app/i", logStreamName=stream)
        logs.put_log_events(logGroupName="/app/i", logStreamName=stream,
                            logEvents=[{"timestamp": now + o, "message": f"{stream}{o}"} for o in offsets])
    events = logs.filter_log_events(logGroupName="/app/i")["events"]
    assert [(e["logStreamName"], e["message"]) for e in events] == [("a", "a0"), ("b", "b1"), ("a", "a2"), ("b", "b3")]


def test_retention_takes_only_cloudwatch_logs_periods(aws):
    logs = aws.client("logs")
    logs.create_log_group(logGroupName="/aws/lambda/retention")
    with pytest.raises(ClientError) as e:
        logs.put_retention_policy(logGroupName="/aws/lambda/retention", retentionInDays=10)
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "3653" in e.value.response["Error"]["Message"]
    logs.put_retention_policy(logGroupName="/aws/lambda/retention", retentionInDays=14)
    group = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/retention")["logGroups"][0]
    assert group["retentionInDays"] == 14
