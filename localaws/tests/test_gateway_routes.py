"""REST API routing on the local stage URLs: path parameters, greedy paths, every method, the
resource+method resolution real API Gateway does, and the SourceArn it presents to Lambda."""

import json
import urllib.error
import urllib.request

from helpers import make_function, wait_active

ACCOUNT = "123456789012"


def call(aws, api, path, method="GET", body=None, key=None, stage="prod"):
    headers = {"x-api-key": key} if key else {}
    req = urllib.request.Request(f"{aws.url}/restapis/{api}/{stage}/_user_request_{path}", method=method,
                                 data=body.encode() if body is not None else None, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}"), dict(e.headers)


class Api:
    """A REST API built resource by resource, every method an AWS_PROXY to one function."""

    def __init__(self, aws, fn):
        aws.control("config", {"apigw_quotas": False})
        self.aws, self.fn = aws, fn
        self.apigw = aws.client("apigateway")
        self.id = self.apigw.create_rest_api(name="routes")["id"]
        self.ids = {"/": self.apigw.get_resources(restApiId=self.id)["items"][0]["id"]}

    def resource(self, path):
        if path not in self.ids:
            parent, _, part = path.rpartition("/")
            self.ids[path] = self.apigw.create_resource(restApiId=self.id, parentId=self.resource(parent or "/"),
                                                        pathPart=part)["id"]
        return self.ids[path]

    def method(self, path, verb, key_required=False, exists=False):
        rid = self.resource(path)
        if not exists:
            self.apigw.put_method(restApiId=self.id, resourceId=rid, httpMethod=verb, authorizationType="NONE",
                                  apiKeyRequired=key_required)
        uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{self.fn}/invocations"
        self.apigw.put_integration(restApiId=self.id, resourceId=rid, httpMethod=verb, type="AWS_PROXY",
                                   integrationHttpMethod="POST", uri=uri)
        return self

    def permit(self, sid, source_arn):
        self.aws.client("lambda").add_permission(
            FunctionName=self.fn, StatementId=sid, Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
            SourceArn=source_arn.format(api=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{self.id}"))
        return self

    def deploy(self):
        self.apigw.create_deployment(restApiId=self.id, stageName="prod")
        return self


def function(aws):
    fn = make_function(aws, "router")
    wait_active(aws, "router")
    return fn


def served_by(aws, api, path, method="GET", **kw):
    status, body, _ = call(aws, api.id, path, method, **kw)
    return (status, body["event"]["resource"]) if status == 201 else (status, body)


def test_path_parameters_methods_and_the_proxy_event(aws):
    api = Api(aws, function(aws)).method("/documents", "POST").method("/documents/{id}", "GET") \
        .method("/documents/{id}", "DELETE").method("/documents/delete", "POST").method("/files/{proxy+}", "ANY") \
        .permit("all", "{api}/*/*/*").deploy()

    status, body, _ = call(aws, api.id, "/documents/a%20b%2Bc?x=1&x=2&y=z", "GET")
    assert status == 201
    event = body["event"]
    assert event["resource"] == "/documents/{id}" and event["httpMethod"] == "GET"
    assert event["path"] == "/documents/a%20b%2Bc"
    assert event["pathParameters"] == {"id": "a b+c"}
    assert event["queryStringParameters"] == {"x": "2", "y": "z"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["z"]}
    ctx = event["requestContext"]
    assert ctx["resourcePath"] == "/documents/{id}" and ctx["httpMethod"] == "GET"
    assert ctx["path"] == "/prod/documents/a%20b%2Bc" and ctx["resourceId"] == api.ids["/documents/{id}"]

    event = call(aws, api.id, "/documents", "POST", body='{"a": 1}')[1]["event"]
    assert (event["resource"], event["httpMethod"], event["body"]) == ("/documents", "POST", '{"a": 1}')
    assert event["pathParameters"] is None and event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None

    event = call(aws, api.id, "/documents/abc", "DELETE")[1]["event"]
    assert (event["resource"], event["httpMethod"], event["pathParameters"]) == ("/documents/{id}", "DELETE", {"id": "abc"})
    # A literal path wins over a parameter for the same method; other methods still reach {id}.
    assert served_by(aws, api, "/documents/delete", "POST") == (201, "/documents/delete")
    assert served_by(aws, api, "/documents/delete", "GET") == (201, "/documents/{id}")
    # Greedy paths take the rest of the path, decoded, for any method.
    event = call(aws, api.id, "/files/a/b%20c.txt", "PUT", body="x")[1]["event"]
    assert (event["resource"], event["pathParameters"]) == ("/files/{proxy+}", {"proxy": "a/b c.txt"})
    # Nothing serves these: 403 Missing Authentication Token, as API Gateway answers.
    for path, method in (("/documents", "GET"), ("/documents/abc", "POST"), ("/files", "GET"), ("/nope", "GET"),
                         ("/documents/a/b", "GET"), ("/", "GET")):
        status, body, headers = call(aws, api.id, path, method)
        assert (status, body) == (403, {"message": "Missing Authentication Token"}), (path, method)
        assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_resolution_is_on_the_resource_and_method_pair(aws):
    # Measured on API Gateway (floci-io/floci#3399, ministackorg/ministack#1423): a more specific
    # resource without the request's method does not hold the request.
    api = Api(aws, function(aws)).method("/users/me", "PATCH").method("/users/{userId}", "GET") \
        .method("/jobs/{op}", "GET").permit("all", "{api}/*").deploy()
    assert served_by(aws, api, "/users/me", "PATCH") == (201, "/users/me")
    assert served_by(aws, api, "/users/me", "GET") == (201, "/users/{userId}")
    assert served_by(aws, api, "/users/me", "POST")[0] == 403
    assert served_by(aws, api, "/jobs", "GET")[0] == 403  # a methodless parent
    api.method("/{proxy+}", "ANY").deploy()
    assert served_by(aws, api, "/jobs/reboot", "GET") == (201, "/jobs/{op}")
    assert served_by(aws, api, "/jobs/reboot", "POST") == (201, "/{proxy+}")
    assert served_by(aws, api, "/jobs", "GET") == (201, "/{proxy+}")
    assert served_by(aws, api, "/users/me", "POST") == (201, "/{proxy+}")
    assert served_by(aws, api, "/", "GET")[0] == 403  # {proxy+} needs a segment


def test_a_stage_serves_what_was_deployed(aws):
    api = Api(aws, function(aws)).method("/a", "GET").permit("all", "{api}/*").deploy()
    api.method("/b", "GET")
    api.apigw.delete_method(restApiId=api.id, resourceId=api.ids["/a"], httpMethod="GET")
    assert served_by(aws, api, "/a") == (201, "/a")
    assert served_by(aws, api, "/b")[0] == 403
    api.deploy()
    assert served_by(aws, api, "/a")[0] == 403
    assert served_by(aws, api, "/b") == (201, "/b")


def test_source_arn_names_the_actual_method_and_path(aws):
    # API Gateway presents arn:aws:execute-api:{region}:{account}:{api}/{stage}/{VERB}/{path as
    # requested}: a permission naming the `{id}` template literally never matches (SAM had to
    # turn path variables into `*`, aws/serverless-application-model#110).
    api = Api(aws, function(aws)).method("/documents/{id}", "GET").method("/documents/{id}", "DELETE") \
        .method("/documents", "ANY").permit("literal", "{api}/*/GET/documents/{{id}}").deploy()
    assert call(aws, api.id, "/documents/abc")[:2] == (500, {"message": "Internal server error"})
    api.permit("get", "{api}/*/GET/documents/*")
    assert served_by(aws, api, "/documents/abc") == (201, "/documents/{id}")
    assert call(aws, api.id, "/documents/abc", "DELETE")[0] == 500  # the method is part of the ARN
    api.permit("post", "{api}/prod/POST/documents")  # ANY is presented as the actual verb
    assert served_by(aws, api, "/documents", "POST") == (201, "/documents")
    assert call(aws, api.id, "/documents", "PUT", body="")[0] == 500
    api.permit("other-stage", "{api}/beta/DELETE/documents/*")
    assert call(aws, api.id, "/documents/abc", "DELETE")[0] == 500


def test_api_keys_and_throttling_apply_to_every_method(aws):
    api = Api(aws, function(aws)).method("/documents/{id}", "GET", key_required=True) \
        .method("/documents/{id}", "DELETE", key_required=True).permit("all", "{api}/*/*/*").deploy()
    apigw = api.apigw
    key = apigw.create_api_key(name="k", enabled=True)
    plan = apigw.create_usage_plan(name="p", apiStages=[{"apiId": api.id, "stage": "prod"}],
                                   throttle={"rateLimit": 0.01, "burstLimit": 2})
    apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    for method in ("GET", "DELETE"):
        assert call(aws, api.id, "/documents/x", method)[:2] == (403, {"message": "Forbidden"})
        assert call(aws, api.id, "/documents/x", method, key="wrong")[:2] == (403, {"message": "Forbidden"})
    assert call(aws, api.id, "/documents/x", "GET", key=key["value"])[0] == 201
    assert call(aws, api.id, "/documents/x", "DELETE", key=key["value"])[0] == 201
    status, body, _ = call(aws, api.id, "/documents/x", "DELETE", key=key["value"])
    assert (status, body) == (429, {"message": "Too Many Requests"})


def test_a_deployment_needs_methods_with_integrations(aws):
    import pytest
    from botocore.exceptions import ClientError

    api = Api(aws, function(aws))
    with pytest.raises(ClientError) as e:
        api.deploy()
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    assert e.value.response["Error"]["Message"] == "The REST API doesn't contain any methods"
    api.apigw.put_method(restApiId=api.id, resourceId=api.resource("/a"), httpMethod="GET", authorizationType="NONE")
    with pytest.raises(ClientError) as e:
        api.deploy()
    assert e.value.response["Error"]["Message"] == "No integration defined for method"
    # AWS never replaces a method: a second PutMethod is a conflict.
    with pytest.raises(ClientError) as e:
        api.apigw.put_method(restApiId=api.id, resourceId=api.resource("/a"), httpMethod="GET",
                             authorizationType="NONE")
    assert e.value.response["Error"]["Code"] == "ConflictException"
    api.method("/a", "GET", exists=True).deploy()
