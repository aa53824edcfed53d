"""IAM enforcement: signatures, exact-ARN policies per service, conditions, boundaries, denials."""

import json
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from helpers import zip_bytes

from localaws.launcher import Launched

ACCOUNT = "123456789012"
INDEX_ARN = f"arn:aws:s3vectors:us-east-1:{ACCOUNT}:bucket/iam-bucket/index/idx"
LOGS = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:"
APIGW = "arn:aws:apigateway:us-east-1::"
TRUST_LAMBDA = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


@pytest.fixture(scope="module")
def enforced():
    with Launched("--enforce-iam", prefix="localaws-iam-") as local:
        local.control("config", {"iam_propagation_secs": 0, "apigw_quotas": False})
        yield local


def client(local, service, key, secret, token=None):
    return boto3.client(service, endpoint_url=local.url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, aws_session_token=token,
                        config=Config(retries={"total_max_attempts": 1}))


def admin(local, service):
    creds = local.control("credentials")
    return client(local, service, creds["AccessKeyId"], creds["SecretAccessKey"])


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def user_with(local, name, *statements):
    iam = admin(local, "iam")
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy(*statements))
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return k["AccessKeyId"], k["SecretAccessKey"]


def allow(action, resource, condition=None):
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def code(e):
    return e.value.response["Error"]["Code"]


def message(e):
    return e.value.response["Error"]["Message"]


def status(e):
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_least_privilege_is_enforced_per_action_and_arn(enforced):
    s3v = admin(enforced, "s3vectors")
    s3v.create_vector_bucket(vectorBucketName="iam-bucket")
    s3v.create_index(vectorBucketName="iam-bucket", indexName="idx", dataType="float32", dimension=2,
                     distanceMetric="cosine", metadataConfiguration={"nonFilterableMetadataKeys": ["text"]})
    s3v.create_index(vectorBucketName="iam-bucket", indexName="other", dataType="float32", dimension=2, distanceMetric="cosine")
    s3v.put_vectors(vectorBucketName="iam-bucket", indexName="idx",
                    vectors=[{"key": "a", "data": {"float32": [1, 0]}, "metadata": {"t": "x"}}])

    reader = client(enforced, "s3vectors", *user_with(enforced, "reader", allow("s3vectors:QueryVectors", INDEX_ARN)))
    q = dict(vectorBucketName="iam-bucket", indexName="idx", topK=1, queryVector={"float32": [1, 0]})
    assert reader.query_vectors(**q)["vectors"][0]["key"] == "a"
    with pytest.raises(ClientError) as e:
        reader.query_vectors(**q, returnMetadata=True)
    assert code(e) == "AccessDeniedException"
    assert message(e) == (f"User: arn:aws:iam::{ACCOUNT}:user/reader is not authorized to perform: s3vectors:GetVectors "
                          f"on resource: {INDEX_ARN} because no identity-based policy allows the s3vectors:GetVectors action")
    with pytest.raises(ClientError) as e:
        reader.query_vectors(**{**q, "indexName": "other"})
    assert code(e) == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        reader.put_vectors(vectorBucketName="iam-bucket", indexName="idx",
                           vectors=[{"key": "b", "data": {"float32": [0, 1]}}])
    assert status(e) == 403

    full = client(enforced, "s3vectors", *user_with(enforced, "full", allow(
        ["s3vectors:QueryVectors", "s3vectors:GetVectors", "s3vectors:PutVectors"], INDEX_ARN)))
    assert full.query_vectors(**q, returnMetadata=True)["vectors"][0]["metadata"] == {"t": "x"}
    full.put_vectors(vectorBucketName="iam-bucket", indexName="idx", vectors=[{"key": "b", "data": {"float32": [0, 1]}}])


def test_invoke_endpoint_is_judged_against_the_endpoint_arn(enforced):
    enforced.control("endpoints", {"name": "other-endpoint"})
    endpoint = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/alex-embedding-endpoint"
    creds = user_with(enforced, "embedder", allow(["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"], endpoint))
    sm = client(enforced, "sagemaker-runtime", *creds)
    body = json.dumps({"inputs": "hi"})
    sm.invoke_endpoint(EndpointName="alex-embedding-endpoint", ContentType="application/json", Body=body)
    with pytest.raises(ClientError) as e:
        sm.invoke_endpoint(EndpointName="other-endpoint", ContentType="application/json", Body=body)
    assert code(e) == "AccessDeniedException"
    control = client(enforced, "sagemaker", *creds)
    control.describe_endpoint(EndpointName="alex-embedding-endpoint")
    with pytest.raises(ClientError) as e:
        control.describe_endpoint(EndpointName="other-endpoint")
    assert (code(e), status(e)) == ("AccessDeniedException", 400)
    assert "endpoint/other-endpoint because" in message(e)


def test_signatures_are_recomputed_for_every_request(enforced):
    creds = enforced.control("credentials")
    key, secret = creds["AccessKeyId"], creds["SecretAccessKey"]
    # Good GETs pass: a query string, and an ARN percent-encoded in the path.
    client(enforced, "apigateway", key, secret).get_rest_apis(limit=500)
    lam = client(enforced, "lambda", key, secret)
    with pytest.raises(ClientError) as e:
        lam.get_function_configuration(FunctionName=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:missing")
    assert code(e) == "ResourceNotFoundException"
    lam.list_functions(MaxItems=5)
    # A wrong secret, on GET and on a query-protocol POST.
    with pytest.raises(ClientError) as e:
        client(enforced, "apigateway", key, "wrong").get_rest_apis(limit=500)
    assert (code(e), status(e)) == ("InvalidSignatureException", 403)
    with pytest.raises(ClientError) as e:
        client(enforced, "iam", key, "wrong").list_roles()
    assert (code(e), status(e)) == ("SignatureDoesNotMatch", 403)
    # A request changed after it was signed.
    tampered = client(enforced, "apigateway", key, secret)

    def change_query(request, **_):
        request.url = request.url.replace("limit=500", "limit=499")

    tampered.meta.events.register("before-send.apigateway.GetRestApis", change_query)
    with pytest.raises(ClientError) as e:
        tampered.get_rest_apis(limit=500)
    assert code(e) == "InvalidSignatureException"
    # Unknown keys, and no signature at all.
    with pytest.raises(ClientError) as e:
        client(enforced, "iam", "AKIAUNKNOWNKEY000000", "x").list_roles()
    assert (code(e), status(e)) == ("InvalidClientTokenId", 403)
    with pytest.raises(ClientError) as e:
        client(enforced, "lambda", "AKIAUNKNOWNKEY000000", "x").list_functions()
    assert code(e) == "UnrecognizedClientException"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{enforced.url}/restapis")
    assert e.value.code == 403
    # Who am I needs no permission.
    nobody = client(enforced, "sts", *user_with(enforced, "nobody"))
    assert nobody.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/nobody"


def test_log_group_actions_use_the_log_stream_form_tagging_the_bare_arn(enforced):
    good = client(enforced, "logs", *user_with(
        enforced, "logs-good",
        allow(["logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:CreateLogStream"], f"{LOGS}/app/a:*"),
        allow("logs:TagResource", f"{LOGS}/app/a"),
        allow("logs:DescribeLogGroups", f"{LOGS}*")))
    good.create_log_group(logGroupName="/app/a", tags={"team": "blue"})
    good.put_retention_policy(logGroupName="/app/a", retentionInDays=7)
    good.create_log_stream(logGroupName="/app/a", logStreamName="s1")
    good.tag_resource(resourceArn=f"{LOGS}/app/a", tags={"k": "v"})
    assert [g["logGroupName"] for g in good.describe_log_groups(logGroupNamePrefix="/app/a")["logGroups"]] == ["/app/a"]
    with pytest.raises(ClientError) as e:
        good.create_log_group(logGroupName="/app/other")
    assert (code(e), status(e)) == ("AccessDeniedException", 400)
    assert f"logs:CreateLogGroup on resource: {LOGS}/app/other:log-stream: because" in message(e)

    bare = client(enforced, "logs", *user_with(
        enforced, "logs-bare", allow(["logs:CreateLogGroup", "logs:TagResource", "logs:DescribeLogGroups"],
                                     f"{LOGS}/app/b")))
    with pytest.raises(ClientError) as e:
        bare.create_log_group(logGroupName="/app/b")
    assert f"on resource: {LOGS}/app/b:log-stream: because" in message(e)
    with pytest.raises(ClientError) as e:
        bare.describe_log_groups()
    assert f"logs:DescribeLogGroups on resource: {LOGS}:log-stream:" in message(e)
    admin(enforced, "logs").create_log_group(logGroupName="/app/b")
    bare.tag_resource(resourceArn=f"{LOGS}/app/b", tags={"k": "v"})
    # Tags at creation need logs:TagResource too.
    untagging = client(enforced, "logs", *user_with(enforced, "logs-notag", allow("logs:CreateLogGroup", f"{LOGS}/app/c:*")))
    with pytest.raises(ClientError) as e:
        untagging.create_log_group(logGroupName="/app/c", tags={"k": "v"})
    assert f"logs:TagResource on resource: {LOGS}/app/c because" in message(e)
    untagging.create_log_group(logGroupName="/app/c")


def test_lambda_function_arns_and_pass_role(enforced):
    role = admin(enforced, "iam").create_role(RoleName="fn-role", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))["Role"]["Arn"]
    fn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn-ok"
    pass_to_lambda = allow("iam:PassRole", role, {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}})
    args = dict(Runtime="provided.al2023", Role=role, Handler="bootstrap", Code={"ZipFile": zip_bytes()})

    deployer = client(enforced, "lambda", *user_with(
        enforced, "fn-deployer", allow(["lambda:CreateFunction", "lambda:GetFunction"], fn), pass_to_lambda))
    with pytest.raises(ClientError) as e:  # tags at creation need lambda:TagResource too
        deployer.create_function(FunctionName="fn-ok", Tags={"team": "blue"}, **args)
    assert f"lambda:TagResource on resource: {fn} because" in message(e)
    deployer.create_function(FunctionName="fn-ok", **args)
    assert deployer.get_function(FunctionName=fn)["Configuration"]["FunctionArn"] == fn
    with pytest.raises(ClientError) as e:
        deployer.create_function(FunctionName="fn-other", **args)
    assert (code(e), status(e)) == ("AccessDeniedException", 403)
    assert "lambda:CreateFunction on resource: arn:aws:lambda:us-east-1:123456789012:function:fn-other" in message(e)
    with pytest.raises(ClientError) as e:
        deployer.invoke(FunctionName="fn-ok", Payload=b"{}")
    assert f"lambda:InvokeFunction on resource: {fn} because" in message(e)

    no_pass = client(enforced, "lambda", *user_with(enforced, "fn-nopass", allow("lambda:CreateFunction", "*")))
    with pytest.raises(ClientError) as e:
        no_pass.create_function(FunctionName="fn-2", **args)
    assert f"iam:PassRole on resource: {role} because no identity-based policy allows" in message(e)
    other_service = client(enforced, "lambda", *user_with(
        enforced, "fn-ec2pass", allow("lambda:CreateFunction", "*"),
        allow("iam:PassRole", role, {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})))
    with pytest.raises(ClientError) as e:
        other_service.create_function(FunctionName="fn-2", **args)
    assert "iam:PassRole" in message(e)


def test_api_gateway_verb_path_and_inherited_tags(enforced):
    apigw = admin(enforced, "apigateway")
    blue = apigw.create_rest_api(name="blue", tags={"team": "blue"})["id"]
    red = apigw.create_rest_api(name="red")["id"]
    reader = client(enforced, "apigateway", *user_with(
        enforced, "api-reader", allow("apigateway:GET", f"{APIGW}/restapis"),
        allow("apigateway:GET", f"{APIGW}/restapis/*", {"StringEquals": {"aws:ResourceTag/team": "blue"}})))
    assert {a["id"] for a in reader.get_rest_apis(limit=500)["items"]} >= {blue, red}
    reader.get_resources(restApiId=blue)  # a child of the REST API: judged with its tags
    with pytest.raises(ClientError) as e:
        reader.get_resources(restApiId=red)
    assert (code(e), status(e)) == ("AccessDeniedException", 403)
    assert f"apigateway:GET on resource: {APIGW}/restapis/{red}/resources because" in message(e)
    with pytest.raises(ClientError) as e:
        reader.create_rest_api(name="x")
    assert f"apigateway:POST on resource: {APIGW}/restapis because" in message(e)

    tagger = client(enforced, "apigateway", *user_with(enforced, "api-tagger", allow(
        ["apigateway:PUT", "apigateway:DELETE"], f"{APIGW}/tags/*",
        {"StringEquals": {"aws:ResourceTag/team": "blue"}, "ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}})))
    arn = "arn:aws:apigateway:us-east-1::/restapis/{}"
    tagger.tag_resource(resourceArn=arn.format(blue), tags={"env": "dev"})
    tagger.untag_resource(resourceArn=arn.format(blue), tagKeys=["env"])
    with pytest.raises(ClientError) as e:
        tagger.tag_resource(resourceArn=arn.format(red), tags={"env": "dev"})
    assert f"apigateway:PUT on resource: {APIGW}/tags/arn%3Aaws%3Aapigateway" in message(e)
    with pytest.raises(ClientError) as e:
        tagger.untag_resource(resourceArn=arn.format(blue), tagKeys=["team"])
    assert "apigateway:DELETE" in message(e)

    creator = client(enforced, "apigateway", *user_with(enforced, "api-creator", allow(
        "apigateway:POST", f"{APIGW}/restapis",
        {"StringEquals": {"aws:RequestTag/team": "blue"}, "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}})))
    creator.create_rest_api(name="mine", tags={"team": "blue"})
    for tags in ({}, {"team": "red"}, {"team": "blue", "extra": "x"}):
        with pytest.raises(ClientError) as e:
            creator.create_rest_api(name="mine", tags=tags)
        assert code(e) == "AccessDeniedException"


def test_permissions_boundary_condition_on_role_management(enforced):
    iam = admin(enforced, "iam")
    boundary = iam.create_policy(PolicyName="Boundary", PolicyDocument=policy(allow("s3vectors:*", "*")))["Policy"]["Arn"]
    other = iam.create_policy(PolicyName="Other", PolicyDocument=policy(allow("*", "*")))["Policy"]["Arn"]
    delegate = client(enforced, "iam", *user_with(enforced, "delegate", allow(
        ["iam:CreateRole", "iam:PutRolePolicy"], f"arn:aws:iam::{ACCOUNT}:role/app/*",
        {"StringEquals": {"iam:PermissionsBoundary": boundary}})))
    trust = json.dumps(TRUST_LAMBDA)
    made = delegate.create_role(Path="/app/", RoleName="bounded", AssumeRolePolicyDocument=trust,
                                PermissionsBoundary=boundary)["Role"]
    assert made["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    for extra in ({}, {"PermissionsBoundary": other}):
        with pytest.raises(ClientError) as e:
            delegate.create_role(Path="/app/", RoleName="unbounded", AssumeRolePolicyDocument=trust, **extra)
        assert (code(e), status(e)) == ("AccessDenied", 403)
        assert f"iam:CreateRole on resource: arn:aws:iam::{ACCOUNT}:role/app/unbounded because" in message(e)
    with pytest.raises(ClientError) as e:  # the right boundary, but outside the allowed path
        delegate.create_role(RoleName="elsewhere", AssumeRolePolicyDocument=trust, PermissionsBoundary=boundary)
    assert f"on resource: arn:aws:iam::{ACCOUNT}:role/elsewhere because" in message(e)
    inline = dict(PolicyName="p", PolicyDocument=policy(allow("s3vectors:QueryVectors", "*")))
    delegate.put_role_policy(RoleName="bounded", **inline)
    iam.create_role(Path="/app/", RoleName="free", AssumeRolePolicyDocument=trust)
    iam.create_role(Path="/app/", RoleName="other", AssumeRolePolicyDocument=trust, PermissionsBoundary=other)
    for role in ("free", "other"):
        with pytest.raises(ClientError) as e:
            delegate.put_role_policy(RoleName=role, **inline)
        assert code(e) == "AccessDenied"
    iam.put_role_permissions_boundary(RoleName="free", PermissionsBoundary=boundary)
    delegate.put_role_policy(RoleName="free", **inline)


def test_assumed_role_is_limited_by_its_boundary_and_trust(enforced):
    iam, s3v = admin(enforced, "iam"), admin(enforced, "s3vectors")
    s3v.create_vector_bucket(vectorBucketName="bnd-bucket")
    s3v.create_index(vectorBucketName="bnd-bucket", indexName="idx", dataType="float32", dimension=2, distanceMetric="cosine")
    boundary = iam.create_policy(PolicyName="QueryOnly", PolicyDocument=policy(
        allow("s3vectors:QueryVectors", "*")))["Policy"]["Arn"]
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="limited", AssumeRolePolicyDocument=json.dumps(trust), PermissionsBoundary=boundary)
    iam.put_role_policy(RoleName="limited", PolicyName="p", PolicyDocument=policy(allow("s3vectors:*", "*")))
    creds = admin(enforced, "sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/limited", RoleSessionName="sess")["Credentials"]
    session = client(enforced, "s3vectors", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    session.query_vectors(vectorBucketName="bnd-bucket", indexName="idx", topK=1, queryVector={"float32": [1, 0]})
    with pytest.raises(ClientError) as e:
        session.put_vectors(vectorBucketName="bnd-bucket", indexName="idx", vectors=[{"key": "a", "data": {"float32": [1, 0]}}])
    assert message(e) == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/limited/sess is not authorized to perform: s3vectors:PutVectors on "
        f"resource: arn:aws:s3vectors:us-east-1:{ACCOUNT}:bucket/bnd-bucket/index/idx because no permissions boundary "
        f"allows the s3vectors:PutVectors action")
    # The session token must come with the session's keys.
    with pytest.raises(ClientError) as e:
        client(enforced, "s3vectors", creds["AccessKeyId"], creds["SecretAccessKey"]).list_vector_buckets()
    assert code(e) == "UnrecognizedClientException"
    # A role that trusts only Lambda cannot be assumed, even by the administrator.
    iam.create_role(RoleName="lambda-only", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))
    with pytest.raises(ClientError) as e:
        admin(enforced, "sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/lambda-only", RoleSessionName="sess")
    assert code(e) == "AccessDenied"
    assert "because no resource-based policy allows the sts:AssumeRole action" in message(e)


def test_explicit_deny_wins_and_unmapped_calls_are_denied(enforced):
    iam = client(enforced, "iam", *user_with(enforced, "almost-admin", allow("*", "*"),
                                             {"Effect": "Deny", "Action": "iam:Delete*", "Resource": "*"}))
    iam.list_roles()
    with pytest.raises(ClientError) as e:
        iam.delete_role(RoleName="fn-role")
    assert code(e) == "AccessDenied"
    assert message(e).endswith("with an explicit deny in an identity-based policy")
    with pytest.raises(ClientError) as e:
        admin(enforced, "iam").get_account_password_policy()
    assert code(e) == "AccessDenied"
    assert "no IAM mapping for iam GetAccountPasswordPolicy" in message(e)
    with pytest.raises(ClientError) as e:
        admin(enforced, "lambda").list_versions_by_function(FunctionName="fn-ok")
    assert code(e) == "AccessDeniedException"
    assert "no IAM mapping for lambda GET /2015-03-31/functions/fn-ok/versions" in message(e)


class AsAdmin:
    """The enforced instance, its clients signed with the administrator's keys (for `helpers`)."""

    def __init__(self, local):
        self.local = local

    def __getattr__(self, name):
        return getattr(self.local, name)

    def client(self, service, **kw):
        return self.local.client(service, admin=True, **kw)


def test_lambda_logs_are_read_with_log_group_arns_and_simulated(enforced):
    from helpers import deploy_api, make_function, wait_active

    iam = admin(enforced, "iam")
    fn = make_function(AsAdmin(enforced), "fn-logs")
    group = f"{LOGS}/aws/lambda/fn-logs"
    iam.put_role_policy(RoleName="fn-logs-role", PolicyName="logs", PolicyDocument=policy(
        allow(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], [group, f"{group}:*"])))
    wait_active(AsAdmin(enforced), "fn-logs")
    api, _, _, _ = deploy_api(AsAdmin(enforced), fn, key_required=False)
    req = urllib.request.Request(f"{enforced.url}/restapis/{api}/prod/_user_request_/echo", data=b"{}", method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 201

    reader = client(enforced, "logs", *user_with(enforced, "log-reader", allow(
        ["logs:FilterLogEvents", "logs:GetLogEvents", "logs:DescribeLogStreams"], f"{group}:*")))
    events = reader.filter_log_events(logGroupName="/aws/lambda/fn-logs", filterPattern="REPORT")["events"]
    assert len(events) == 1 and events[0]["message"].startswith("REPORT RequestId: ")
    (stream,) = reader.describe_log_streams(logGroupName="/aws/lambda/fn-logs")["logStreams"]
    got = reader.get_log_events(logGroupName="/aws/lambda/fn-logs", logStreamName=stream["logStreamName"])["events"]
    assert any(e["message"].startswith("START RequestId: ") for e in got)
    admin(enforced, "logs").create_log_group(logGroupName="/aws/lambda/other")
    for call, kw in ((reader.filter_log_events, {}), (reader.describe_log_streams, {}),
                     (reader.get_log_events, {"logStreamName": "s"})):
        with pytest.raises(ClientError) as e:
            call(logGroupName="/aws/lambda/other", **kw)
        assert (code(e), status(e)) == ("AccessDeniedException", 400)
        assert f"on resource: {LOGS}/aws/lambda/other:log-stream:{kw.get('logStreamName', '')} because" in message(e)

    # SimulatePrincipalPolicy is authorised on the simulated principal.
    role = f"arn:aws:iam::{ACCOUNT}:role/fn-logs-role"
    auditor = client(enforced, "iam", *user_with(enforced, "auditor", allow("iam:SimulatePrincipalPolicy", role)))
    out = auditor.simulate_principal_policy(PolicySourceArn=role, ActionNames=["logs:PutLogEvents"],
                                            ResourceArns=[f"{group}:log-stream:x"])
    assert out["EvaluationResults"][0]["EvalDecision"] == "allowed"
    with pytest.raises(ClientError) as e:
        auditor.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/fn-role",
                                          ActionNames=["logs:PutLogEvents"])
    assert code(e) == "AccessDenied"
    assert f"iam:SimulatePrincipalPolicy on resource: arn:aws:iam::{ACCOUNT}:role/fn-role because" in message(e)


def test_role_permission_changes_apply_after_the_propagation_delay(enforced):
    iam, s3v = admin(enforced, "iam"), admin(enforced, "s3vectors")
    s3v.create_vector_bucket(vectorBucketName="prop-bucket")
    s3v.create_index(vectorBucketName="prop-bucket", indexName="idx", dataType="float32", dimension=2,
                     distanceMetric="cosine")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="late", AssumeRolePolicyDocument=json.dumps(trust))
    enforced.control("config", {"iam_propagation_secs": 1.0, "clock_scale": 1.0})
    try:
        iam.put_role_policy(RoleName="late", PolicyName="p", PolicyDocument=policy(allow("s3vectors:QueryVectors", "*")))
        creds = admin(enforced, "sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/late",
                                                   RoleSessionName="sess")["Credentials"]
        session = client(enforced, "s3vectors", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        query = dict(vectorBucketName="prop-bucket", indexName="idx", topK=1, queryVector={"float32": [1, 0]})
        # A new role's first policy: denied until it propagates.
        with pytest.raises(ClientError) as e:
            session.query_vectors(**query)
        assert code(e) == "AccessDeniedException"
        time.sleep(1.1)
        session.query_vectors(**query)
        # Removing it: still allowed until that propagates too.
        iam.delete_role_policy(RoleName="late", PolicyName="p")
        session.query_vectors(**query)
        time.sleep(1.1)
        with pytest.raises(ClientError) as e:
            session.query_vectors(**query)
        assert code(e) == "AccessDeniedException"
    finally:
        enforced.control("config", {"iam_propagation_secs": 0})


def test_s3_reads_are_judged_by_bucket_prefix_and_object_arn(enforced):
    """What `deployer sync s3://src/notes/` needs: s3:ListBucket on the bucket with an s3:prefix
    condition, s3:GetObject on the prefix's objects; nothing else of the bucket."""
    path_style = Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"})
    s3 = boto3.client("s3", endpoint_url=enforced.url, region_name="us-east-1", config=path_style,
                      **dict(zip(("aws_access_key_id", "aws_secret_access_key"),
                                 (enforced.control("credentials")[k] for k in ("AccessKeyId", "SecretAccessKey")))))
    s3.create_bucket(Bucket="src")
    for key in ("notes/a.md", "notes/b.md", "private/c.md"):
        s3.put_object(Bucket="src", Key=key, Body=f"text of {key}".encode())
    key, secret = user_with(enforced, "s3-reader",
                            allow("s3:ListBucket", "arn:aws:s3:::src", {"StringLike": {"s3:prefix": ["notes/*"]}}),
                            allow("s3:GetObject", "arn:aws:s3:::src/notes/*"))
    reader = boto3.client("s3", endpoint_url=enforced.url, region_name="us-east-1", config=path_style,
                          aws_access_key_id=key, aws_secret_access_key=secret)
    listed = reader.list_objects_v2(Bucket="src", Prefix="notes/")
    assert [o["Key"] for o in listed["Contents"]] == ["notes/a.md", "notes/b.md"]
    assert reader.get_object(Bucket="src", Key="notes/a.md")["Body"].read() == b"text of notes/a.md"
    for call in (lambda: reader.list_objects_v2(Bucket="src"),
                 lambda: reader.list_objects_v2(Bucket="src", Prefix="private/"),
                 lambda: reader.get_object(Bucket="src", Key="private/c.md"),
                 lambda: reader.put_object(Bucket="src", Key="notes/x.md", Body=b"x")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDenied", e.value.response
        assert status(e) == 403
    with pytest.raises(ClientError) as e:
        reader.get_object(Bucket="src", Key="private/c.md")
    assert message(e) == (f"User: arn:aws:iam::{ACCOUNT}:user/s3-reader is not authorized to perform: s3:GetObject "
                          "on resource: arn:aws:s3:::src/private/c.md because no identity-based policy allows "
                          "the s3:GetObject action")
