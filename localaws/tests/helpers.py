"""Builders for the API Gateway / Lambda tests: a zip with a Runtime API `bootstrap` in
Python, and a deployed REST API with an API key and usage plan."""

import io
import json
import time
import zipfile

BOOTSTRAP = r'''#!/usr/bin/env python3
import json, os, sys, time, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.read())
    body = event.get("body") or ""
    if body == "crash":
        sys.exit(3)
    if body == "sleep":
        time.sleep(30)
    if body == "nap":
        time.sleep(1)
    if body == "bad":
        out = b"not json"
    else:
        out = json.dumps({"statusCode": 201, "headers": {"content-type": "application/json", "x-marker": "m"},
                          "body": json.dumps({"event": event, "marker": os.environ.get("MARKER"),
                                              "session": bool(os.environ.get("AWS_SESSION_TOKEN")),
                                              "pid": os.getpid()})}).encode()
    urllib.request.urlopen(urllib.request.Request(api + rid + "/response", data=out, method="POST")).read()
'''


def zip_bytes(script=BOOTSTRAP) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        zf.writestr(info, script)
    return buf.getvalue()


def make_role(aws, name="fn-role"):
    iam = aws.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def make_function(aws, name="fn", timeout=3, env=None, wait_role=True, script=BOOTSTRAP, memory=128):
    role = make_role(aws, name + "-role")
    if wait_role:
        aws.control("config", {"iam_propagation_secs": 0})
    lam = aws.client("lambda")
    fn = lam.create_function(FunctionName=name, Runtime="provided.al2023", Role=role, Handler="bootstrap",
                             Code={"ZipFile": zip_bytes(script)}, Timeout=timeout, MemorySize=memory,
                             Environment={"Variables": env or {"MARKER": "one"}})
    return fn["FunctionArn"]


def deploy_api(aws, function_arn, permission=True, key_required=True, throttle=None):
    """REST API with POST /echo → the function, stage prod, a key and a usage plan."""
    apigw = aws.client("apigateway")
    aws.control("config", {"apigw_quotas": False})
    api = apigw.create_rest_api(name="t-api")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    res = apigw.create_resource(restApiId=api, parentId=root, pathPart="echo")["id"]
    apigw.put_method(restApiId=api, resourceId=res, httpMethod="POST", authorizationType="NONE",
                     apiKeyRequired=key_required)
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    apigw.put_integration(restApiId=api, resourceId=res, httpMethod="POST", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=uri)
    if permission:
        aws.client("lambda").add_permission(
            FunctionName=function_arn, StatementId="apigw", Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:us-east-1:123456789012:{api}/*/POST/echo")
    apigw.create_deployment(restApiId=api, stageName="prod")
    key = apigw.create_api_key(name="k", enabled=True)
    plan = apigw.create_usage_plan(name="p", apiStages=[{"apiId": api, "stage": "prod"}],
                                   throttle=throttle or {"rateLimit": 100, "burstLimit": 200})
    apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    aws.control("config", {"apigw_quotas": True})
    return api, key["value"], plan["id"], key["id"]


def wait_active(aws, name, timeout=10):
    lam = aws.client("lambda")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        c = lam.get_function_configuration(FunctionName=name)
        if c["State"] == "Active" and c["LastUpdateStatus"] == "Successful":
            return
        time.sleep(0.05)
    raise AssertionError("function never became Active")
