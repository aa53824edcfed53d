"""API Gateway (REST v1): control-plane fidelity and a data plane that serves deployed stages.

Control plane: TagResource/GetTags/UntagResource by ARN for REST APIs, keys and usage plans;
NotFoundException on deleting a missing REST API or usage plan; BadRequestException on
deleting a usage plan that still has API stages or naming a stage that does not exist;
ConflictException on duplicate resources and usage-plan keys; the account's control-plane
quotas answered with 429 TooManyRequestsException and Retry-After (clock scaled).

CreateDeployment is a BadRequestException when the API has no methods ("The REST API doesn't contain
any methods") or a method has no integration ("No integration defined for method").

Data plane: `/restapis/{api_id}/{stage}/_user_request_/{path}` serves what the stage's deployment
captured (resources, methods and integrations as they were at CreateDeployment; later edits need a
new deployment). The route is resolved on the resource+method pair (`match_route`): literal
segments over `{param}` over `{proxy+}`, the most specific resource that has the method or ANY;
nothing → 403 `{"message":"Missing Authentication Token"}` (x-amzn-ErrorType
MissingAuthenticationTokenException). Then `apiKeyRequired` is enforced against usage plans bound
to the stage and the plan's throttle applied (for every method; the bucket is per plan and key),
the Lambda resource policy is checked with the SourceArn API Gateway presents
(`arn:aws:execute-api:{region}:{account}:{api}/{stage}/{VERB}{path as requested}`), the REST v1
proxy event is built (`resource` the template, `path` as requested with its percent-encoding,
`pathParameters` decoded, `queryStringParameters` the last value of each name and
`multiValueQueryStringParameters` all of them, each null when there are none) and the function is
invoked through the Lambda Runtime API. An `AWS_IAM` method is authorized first, as on AWS: the
request must carry a SigV4 signature for `execute-api` in the API's region by a known identity
(else 403 with API Gateway's words: "Missing Authentication Token", "The security token included
in the request is invalid.", "The request signature we calculated does not match …", "Credential
should be scoped to correct service: 'execute-api'. "), and the identity's policies must allow
`execute-api:Invoke` on `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{VERB}{path}`, else
403 `{"Message": "User: … is not authorized to perform: execute-api:Invoke on resource: …"}`.
Lambda authorizers are not evaluated. With API Gateway's and Lambda's limits: a body over
10 MiB is a plain-text 413 "HTTP content length exceeded 10485760 bytes."; a proxy event over
Lambda's 6 MiB request payload is 413 `{"message": "Request Too Long"}` (BadRequestException) and
the function is not invoked; an integration slower than 29 s (`apigw_integration_timeout_secs`)
is 504 `{"message": "Endpoint request timed out"}` while the invocation runs on in the background
until the function's own timeout; a Lambda answer over 6,291,556 bytes is 502.
"""

import base64
import copy
import json
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs, quote, unquote

from .actions import Check, partition_of
from .common import ACCOUNT_ID, Response, aws_error

# Seconds between calls, per account (cannot be raised on AWS).
QUOTAS = {"CreateRestApi": 3.0, "CreateDeployment": 5.0, "DeleteRestApi": 30.0, "UpdateUsagePlan": 20.0}
TAG_ARN = re.compile(r"^arn:aws:apigateway:([^:]+)::/(restapis|apikeys|usageplans)/([^/]+)$")
STAGE_PATH = re.compile(r"^/restapis/([^/]+)/([^/]+)/_user_request_(/.*)?$")
INTEGRATION_URI = re.compile(r"^arn:aws:apigateway:[^:]+:lambda:path/2015-03-31/functions/(.+)/invocations$")
# API Gateway's payload cap, Lambda's synchronous request and response payload caps (bytes).
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_EVENT_BYTES = 6 * 1024 * 1024
MAX_LAMBDA_RESPONSE_BYTES = 6 * 1024 * 1024 + 100


def _error(status, code, message, retry_after=None):
    return aws_error("apigateway", status, code, message, retry_after)


def gateway_message(status: int, message: str, headers=None) -> Response:
    kind = {403: "ForbiddenException", 429: "TooManyRequestsException"}.get(status, "")
    if message == "Missing Authentication Token":
        kind = "MissingAuthenticationTokenException"
    h = {"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": kind}
    h.update(headers or {})
    return Response(status, {"message": message}, h)


class DeployedResource:
    """A resource as a deployment captured it: its path, id and a copy of its methods."""

    def __init__(self, resource):
        self.id = resource.id
        self.path = resource.get_path()
        self.resource_methods = copy.deepcopy(resource.resource_methods)

    def get_path(self) -> str:
        return self.path


class ApiGateway:
    def __init__(self, aws):
        self.aws = aws
        self.lock = threading.Lock()
        self.last_call: dict[str, float] = {}
        self.buckets: dict[tuple, list] = {}
        self.quota_counts: dict[tuple, int] = {}
        # (api id, deployment id) -> the resources as deployed: {resource id: DeployedResource}
        self.deployed: dict[tuple, dict] = {}

    def reset(self):
        with self.lock:
            self.deployed.clear()
            self.last_call.clear()
            self.buckets.clear()
            self.quota_counts.clear()

    @staticmethod
    def backend(region):
        from moto.apigateway.models import apigateway_backends

        return apigateway_backends[ACCOUNT_ID][region]

    # ---- control plane ------------------------------------------------------------------

    # Checked here, then created by moto: run whole under the server's atomic lock.
    ATOMIC = ("CreateResource", "PutMethod")

    def before(self, call, environ, body: bytes, region: str):
        op = call.operation
        path = environ.get("PATH_INFO", "")
        backend = self.backend(region)
        req = {}
        if body:
            try:
                req = json.loads(body)
            except ValueError:
                req = {}
        if op in ("TagResource", "GetTags", "UntagResource"):
            return self.tags(op, path, environ, req)
        parts = path.strip("/").split("/")
        if op == "DeleteRestApi" and parts[1] not in backend.apis:
            return _error(404, "NotFoundException", "Invalid API identifier specified")
        if op in ("DeleteUsagePlan", "UpdateUsagePlan", "GetUsagePlan", "CreateUsagePlanKey") and parts[1] not in backend.usage_plans:
            return _error(404, "NotFoundException", "Invalid Usage Plan ID specified")
        if op == "DeleteUsagePlan" and backend.usage_plans[parts[1]].api_stages:
            return _error(400, "BadRequestException",
                          f"Cannot delete Usage Plan {parts[1]} because there are API Stages associated with it")
        if op == "CreateUsagePlan":
            for stage in req.get("apiStages") or []:
                if not self.stage_exists(backend, stage.get("apiId"), stage.get("stage")):
                    return _error(400, "BadRequestException",
                                  f"Invalid API Stage {{api: {stage.get('apiId')}, stage: {stage.get('stage')}}} specified for usageplan")
        if op == "UpdateUsagePlan":
            for patch in req.get("patchOperations") or []:
                if patch.get("op") == "add" and patch.get("path") == "/apiStages":
                    api_id, _, stage = (patch.get("value") or "").partition(":")
                    if not self.stage_exists(backend, api_id, stage):
                        return _error(400, "BadRequestException",
                                      f"Invalid API Stage {{api: {api_id}, stage: {stage}}} specified for usageplan {parts[1]}")
        if op == "CreateUsagePlanKey":
            key_id = req.get("keyId")
            if key_id not in backend.keys:
                return _error(404, "NotFoundException", "Invalid API Key identifier specified")
            if key_id in backend.usage_plan_keys.get(parts[1], {}):
                return _error(409, "ConflictException", f"Usage Plan {parts[1]} already contains API Key {key_id}")
        if op == "PutMethod":
            # AWS never replaces a method (moto would, dropping its integration): 409.
            api = backend.apis.get(parts[1])
            res = api.resources.get(parts[3]) if api is not None else None
            if res is not None and parts[5] in (res.resource_methods or {}):
                return _error(409, "ConflictException", "Method already exists for this resource")
        if op == "UpdateMethod":
            return self.update_method(backend, parts, req)
        if op == "CreateResource":
            api = backend.apis.get(parts[1])
            if api is not None:
                for res in api.resources.values():
                    if res.parent_id == parts[3] and res.path_part == req.get("pathPart"):
                        return _error(409, "ConflictException",
                                      f"Another resource with the same parent already has this name: {req.get('pathPart')}")
        if op == "CreateDeployment" and parts[1] in backend.apis:
            # What a deployment would capture must be complete.
            methods = [m for r in backend.apis[parts[1]].resources.values() for m in (r.resource_methods or {}).values()]
            if not methods:
                return _error(400, "BadRequestException", "The REST API doesn't contain any methods")
            if any(m.method_integration is None for m in methods):
                return _error(400, "BadRequestException", "No integration defined for method")
        if op in QUOTAS and self.aws.settings.apigw_quotas:
            interval = self.aws.settings.scaled(QUOTAS[op])
            with self.lock:
                now = time.monotonic()
                last = self.last_call.get(op)
                if last is not None and now - last < interval:
                    return _error(429, "TooManyRequestsException", "Too Many Requests", retry_after=interval - (now - last))
                self.last_call[op] = now
        return None

    def after(self, call, environ, body, region, resp):
        if call.operation == "CreateDeployment" and resp.status in (200, 201):
            # A stage serves what was deployed to it: the resources, methods and integrations as
            # they were at CreateDeployment, not later edits.
            api_id = environ.get("PATH_INFO", "").strip("/").split("/")[1]
            api = self.backend(region).apis.get(api_id)
            try:
                deployment_id = json.loads(resp.body).get("id")
            except (ValueError, AttributeError):
                deployment_id = None
            if api is not None and deployment_id:
                with self.lock:
                    self.deployed[(api_id, deployment_id)] = {r.id: DeployedResource(r) for r in api.resources.values()}
            return None
        if call.operation == "UpdateStage" and resp.status == 200:
            # `remove /{resourcePath}/{httpMethod}` drops a method's settings (as Terraform's
            # method-settings delete does); moto ignores it.
            parts = environ.get("PATH_INFO", "").strip("/").split("/")
            api = self.backend(region).apis.get(parts[1])
            stage = api.stages.get(parts[3]) if api is not None else None
            ops = [o for o in json.loads(body or b"{}").get("patchOperations") or []
                   if o.get("op") == "remove" and re.fullmatch(r"/[^/]+/[^/]+", o.get("path") or "")
                   and not o["path"].startswith("/variables/")]
            if stage is not None and ops:
                for o in ops:
                    stage.method_settings.pop(o["path"][1:], None)
                return Response(200, stage.to_json(), {"Content-Type": "application/json"})
        if call.operation == "UpdateUsagePlan" and resp.status == 200:
            # moto keeps patched quota values as the strings of the patch; AWS answers numbers
            # (an SDK with typed fields cannot read a string `limit`).
            plan_id = environ.get("PATH_INFO", "").rstrip("/").split("/")[-1]
            plan = self.backend(region).usage_plans.get(plan_id)
            if plan is not None:
                for key in ("limit", "offset"):
                    if isinstance(plan.quota.get(key), str):
                        plan.quota[key] = int(plan.quota[key])
                if "rateLimit" in plan.throttle:
                    plan.throttle["rateLimit"] = float(plan.throttle["rateLimit"])
                return Response(200, plan.to_json(), {k: v for k, v in resp.headers.items()
                                                      if k.lower() != "content-type"} | {"Content-Type": "application/json"})
        return None

    # UpdateMethod's patchable fields (moto has no UpdateMethod): path -> (attribute, parse).
    METHOD_PATCHES = {
        "/apiKeyRequired": ("api_key_required", lambda v: {"true": True, "false": False}[v]),
        "/authorizationType": ("authorization_type",
                               lambda v: {t: t for t in ("NONE", "AWS_IAM", "CUSTOM", "COGNITO_USER_POOLS")}[v]),
        "/authorizerId": ("authorizer_id", str),
        "/operationName": ("operation_name", str),
    }

    def update_method(self, backend, parts, req) -> Response:
        """UpdateMethod: `replace` of the method's own fields, as API Gateway takes them."""
        api = backend.apis.get(parts[1])
        if api is None:
            return _error(404, "NotFoundException", "Invalid API identifier specified")
        res = api.resources.get(parts[3])
        if res is None:
            return _error(404, "NotFoundException", "Invalid Resource identifier specified")
        method = (res.resource_methods or {}).get(parts[5])
        if method is None:
            return _error(404, "NotFoundException", "Invalid Method identifier specified")
        changes = []
        for patch in req.get("patchOperations") or []:
            path, value = patch.get("path"), patch.get("value")
            if patch.get("op") != "replace" or path not in self.METHOD_PATCHES:
                return _error(400, "BadRequestException",
                              f"Invalid patch path '{path}' specified for op '{patch.get('op')}'. Must be one of: "
                              f"[{', '.join(p[1:] for p in self.METHOD_PATCHES)}]")
            attribute, parse = self.METHOD_PATCHES[path]
            try:
                changes.append((attribute, parse(value or "")))
            except KeyError:
                return _error(400, "BadRequestException", f"Invalid value '{value}' for {path[1:]}")
        for attribute, value in changes:
            setattr(method, attribute, value)
        return Response(200, method.to_json(), {"Content-Type": "application/json"})

    @staticmethod
    def stage_exists(backend, api_id, stage) -> bool:
        api = backend.apis.get(api_id or "")
        return api is not None and stage in api.stages

    def resolve_tagged(self, arn: str):
        m = TAG_ARN.match(arn)
        if not m:
            return None
        region, kind, ident = m.groups()
        backend = self.backend(region)
        collection = {"restapis": backend.apis, "apikeys": backend.keys, "usageplans": backend.usage_plans}[kind]
        return collection.get(ident)

    def tags(self, op, path, environ, req):
        arn = unquote(path[len("/tags/"):])
        obj = self.resolve_tagged(arn)
        if obj is None:
            return _error(404, "NotFoundException", f"Invalid resource identifier specified: {arn}")
        current = getattr(obj, "tags", None)
        if current is None:
            current = {}
            obj.tags = current
        if op == "TagResource":
            current.update(req.get("tags") or {})
            return Response(204, b"")
        if op == "UntagResource":
            for key in parse_qs(environ.get("QUERY_STRING", "")).get("tagKeys", []):
                current.pop(key, None)
            return Response(204, b"")
        return Response(200, {"tags": dict(current)})

    # ---- data plane ---------------------------------------------------------------------

    def find_api(self, api_id):
        from moto.apigateway.models import apigateway_backends

        for region in list(apigateway_backends[ACCOUNT_ID].keys()):
            backend = apigateway_backends[ACCOUNT_ID][region]
            if api_id in backend.apis:
                return region, backend, backend.apis[api_id]
        return None, None, None

    @staticmethod
    def match_route(resources, raw_path: str, method: str):
        """(resource, method, pathParameters) serving this request, or (None, None, None).

        As REST APIs route: the request's path is matched against every resource's template, a
        literal segment ranking above a `{param}` and a `{param}` above a greedy `{proxy+}`, from
        the first segment on; the most specific resource that has the request's method (or ANY)
        serves it. A more specific resource without that method does not stop the search (a
        literal `/users/me` with PATCH only yields GET to `/users/{id}`; a methodless parent or a
        verb mismatch falls through to a `{proxy+}`). A greedy variable needs at least one
        segment, so `/{proxy+}` does not serve `/`. Path parameters are percent-decoded.
        """
        segments = [s for s in raw_path.split("/") if s]
        candidates = []
        for res in resources.values():
            template = [t for t in res.get_path().split("/") if t]
            rank, params = [], {}
            for i, part in enumerate(template):
                if part.startswith("{") and part.endswith("+}"):
                    if i != len(template) - 1 or i >= len(segments):
                        break
                    params[part[1:-2]] = unquote("/".join(segments[i:]))
                    rank.append(2)
                    break
                if i >= len(segments):
                    break
                if part.startswith("{") and part.endswith("}"):
                    params[part[1:-1]] = unquote(segments[i])
                    rank.append(1)
                elif part == unquote(segments[i]):
                    rank.append(0)
                else:
                    break
            else:
                if len(template) != len(segments):
                    continue
                candidates.append((rank, res, params))
                continue
            if rank and rank[-1] == 2:
                candidates.append((rank, res, params))
        for _, res, params in sorted(candidates, key=lambda c: c[0]):
            methods = res.resource_methods or {}
            found = methods.get(method) or methods.get("ANY")
            if found is not None:
                return res, found, params
        return None, None, None

    def check_key(self, backend, api_id, stage, key_value):
        """Returns (key, plan) for an enabled key in a usage plan bound to the stage."""
        if not key_value:
            return None, None
        key = next((k for k in backend.keys.values() if k.value == key_value and k.enabled), None)
        if key is None:
            return None, None
        for plan in backend.usage_plans.values():
            bound = any(s.get("apiId") == api_id and s.get("stage") == stage for s in plan.api_stages)
            if bound and key.id in backend.usage_plan_keys.get(plan.id, {}):
                return key, plan
        return key, None

    def throttled(self, plan, key) -> str:
        throttle = plan.throttle or {}
        rate = float(throttle.get("rateLimit") or 0)
        burst = float(throttle.get("burstLimit") or 0)
        now = time.monotonic()
        with self.lock:
            if rate > 0 or burst > 0:
                capacity = max(burst, 1.0)
                tokens, last = self.buckets.get((plan.id, key.id), [capacity, now])
                tokens = min(capacity, tokens + (now - last) * rate)
                if tokens < 1.0:
                    self.buckets[(plan.id, key.id)] = [tokens, now]
                    return "Too Many Requests"
                self.buckets[(plan.id, key.id)] = [tokens - 1.0, now]
            quota = plan.quota or {} if hasattr(plan, "quota") else {}
            limit = int(quota.get("limit") or 0)
            if limit:
                period = quota.get("period", "MONTH")
                stamp = datetime.now(timezone.utc)
                window = {"DAY": stamp.strftime("%Y-%j"), "WEEK": stamp.strftime("%Y-%W")}.get(period, stamp.strftime("%Y-%m"))
                count = self.quota_counts.get((plan.id, key.id, window), 0)
                if count >= limit:
                    return "Limit Exceeded"
                self.quota_counts[(plan.id, key.id, window)] = count + 1
        return ""

    def invoke_stage(self, environ, path, body: bytes) -> Response:
        if len(body) > MAX_BODY_BYTES:
            return Response(413, f"HTTP content length exceeded {MAX_BODY_BYTES} bytes.",
                            {"Content-Type": "text/plain; charset=utf-8", "x-amzn-RequestId": str(uuid.uuid4())})
        # REST APIs pass the path on as the client sent it (percent-encoding kept).
        raw = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(path)).split("?", 1)[0]
        if "://" in raw:
            raw = "/" + raw.split("://", 1)[1].partition("/")[2]
        m = STAGE_PATH.match(raw) or STAGE_PATH.match(path)
        if not m:
            return gateway_message(404, "Not Found")
        api_id, stage_name, rest = m.group(1), m.group(2), m.group(3) or "/"
        region, backend, api = self.find_api(api_id)
        if api is None:
            return gateway_message(404, "Not Found")
        stage = api.stages.get(stage_name)
        if stage is None:
            return gateway_message(403, "Forbidden")
        method_name = environ["REQUEST_METHOD"]
        with self.lock:
            deployed = self.deployed.get((api_id, stage.deployment_id))
        resource, method, params = self.match_route(deployed if deployed is not None else api.resources, rest,
                                                    method_name)
        if method is None:
            return gateway_message(403, "Missing Authentication Token")
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        # Authorization comes before the API key, as on AWS.
        caller = None
        if (method.authorization_type or "NONE") == "AWS_IAM":
            caller = self.iam_caller(environ, body, region, api_id, stage_name, method_name, rest)
            if isinstance(caller, Response):
                return caller
        key = None
        if method.api_key_required:
            key, plan = self.check_key(backend, api_id, stage_name, headers.get("x-api-key"))
            if key is None or plan is None:
                return gateway_message(403, "Forbidden")
            reason = self.throttled(plan, key)
            if reason:
                return gateway_message(429, reason)
        integration = method.method_integration
        if integration is None or integration.integration_type != "AWS_PROXY":
            return gateway_message(500, "Internal server error")
        fm = INTEGRATION_URI.match(integration.uri or "")
        if not fm:
            return gateway_message(500, "Internal server error")
        function_arn = fm.group(1)
        request_id = str(uuid.uuid4())
        # The ARN API Gateway presents to Lambda as AWS:SourceArn names the request's own method
        # and path (path parameters as sent, never the `{id}` template; ANY as the actual verb).
        source_arn = f"arn:{partition_of(region)}:execute-api:{region}:{ACCOUNT_ID}:{api_id}/{stage_name}/{method_name}{rest}"
        event = self.proxy_event(environ, api_id, stage_name, rest, resource, method_name, headers, params, body, key,
                                 request_id, caller)
        if len(json.dumps(event).encode()) > MAX_EVENT_BYTES:
            return gateway_message(413, "Request Too Long", {"x-amzn-ErrorType": "BadRequestException"})
        status, payload = self.invoke_with_timeout(function_arn, source_arn, event)
        if status == 504:
            return gateway_message(504, "Endpoint request timed out")
        if status == 429:
            # A throttled Lambda (concurrency) reaches a REST proxy integration's client as 500.
            return gateway_message(500, "Internal server error")
        if status != 200 or len(payload) > MAX_LAMBDA_RESPONSE_BYTES:
            return gateway_message(502 if status == 200 else status, "Internal server error")
        return self.proxy_response(payload, request_id)

    def invoke_with_timeout(self, function_arn, source_arn, event) -> tuple[int, bytes]:
        """Invokes in a thread and waits up to the integration timeout: (504, b"") past it, while
        the invocation runs on (its writes still happen, as on AWS)."""
        result = {}
        done = threading.Event()

        def run():
            try:
                result["out"] = self.aws.lambda_.invoke_from_apigateway(function_arn, source_arn, event)
            except Exception:  # noqa: BLE001 - any failure of the integration is a 502
                result["out"] = (502, b"")
            finally:
                done.set()

        threading.Thread(target=run, daemon=True, name="apigw-integration").start()
        if not done.wait(self.aws.settings.apigw_integration_timeout_secs):
            return 504, b""
        return result["out"]

    @staticmethod
    def iam_caller(environ, body: bytes, region: str, api_id: str, stage: str, method: str, path: str):
        """The caller of an AWS_IAM method, or API Gateway's 403: the request must be signed
        (SigV4) for `execute-api` in the API's region by a known identity whose policies allow
        `execute-api:Invoke` on the method's ARN."""
        from .auth import AUTH_ERRORS, identify, judge

        caller, kind, scope = identify(environ, body)
        if caller is None and kind == "missing":
            return gateway_message(403, "Missing Authentication Token")
        if scope and scope.split("/", 1)[1] != "execute-api":
            return gateway_message(403, "Credential should be scoped to correct service: 'execute-api'. ",
                                   {"x-amzn-ErrorType": "IncompleteSignatureException"})
        if scope and scope.split("/", 1)[0] != region:
            return gateway_message(403, "Credential should be scoped to a valid region. ",
                                   {"x-amzn-ErrorType": "IncompleteSignatureException"})
        if caller is None:
            return gateway_message(403, AUTH_ERRORS[kind][2], {"x-amzn-ErrorType": AUTH_ERRORS[kind][1]})
        arn = f"arn:{partition_of(region)}:execute-api:{region}:{ACCOUNT_ID}:{api_id}/{stage}/{method}{path}"
        reason = judge(caller, Check("execute-api:Invoke", arn))
        if reason:
            explicit = " with an explicit deny" if "explicit deny" in reason else ""
            message = f"User: {caller.arn} is not authorized to perform: execute-api:Invoke on resource: {arn}{explicit}"
            return Response(403, {"Message": message},
                            {"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": "AccessDeniedException"})
        return caller

    def proxy_event(self, environ, api_id, stage, path, resource, method, headers, params, body, key, request_id,
                    caller=None):
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        now = datetime.now(timezone.utc)
        text = body.decode("utf-8", errors="strict") if body else None
        return {
            "resource": resource.get_path(),
            "path": path,
            "httpMethod": method,
            "headers": headers or None,
            "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": resource.id,
                "resourcePath": resource.get_path(),
                "httpMethod": method,
                "extendedRequestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "path": f"/{stage}{path}",
                "accountId": ACCOUNT_ID,
                "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "stage": stage,
                "domainPrefix": api_id,
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "requestId": request_id,
                "identity": {
                    "apiKey": key.value if key else None,
                    "apiKeyId": key.id if key else None,
                    "sourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"),
                    "userAgent": headers.get("user-agent"),
                    # AWS_IAM methods: who signed the request.
                    "userArn": caller.arn if caller else None,
                    "accountId": ACCOUNT_ID if caller else None,
                },
                "domainName": f"{api_id}.execute-api.localhost",
                "apiId": api_id,
            },
            "body": text,
            "isBase64Encoded": False,
        }

    @staticmethod
    def proxy_response(payload: bytes, request_id: str) -> Response:
        """The function's answer, with the request id API Gateway adds to every response."""
        try:
            out = json.loads(payload)
            status = int(out.get("statusCode", 200))
            headers = dict(out.get("headers") or {})
            for k, values in (out.get("multiValueHeaders") or {}).items():
                if values:
                    headers[k] = values[-1]
            body = out.get("body") or ""
            data = base64.b64decode(body) if out.get("isBase64Encoded") else body.encode()
            if not 100 <= status <= 599:
                raise ValueError(status)
        except (ValueError, TypeError, AttributeError):
            return gateway_message(502, "Internal server error")
        headers["x-amzn-RequestId"] = request_id
        return Response(status, data, headers)
