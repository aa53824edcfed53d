"""The local AWS server: moto behind a WSGI layer that adds what moto lacks.

Every AWS API is served on one port and routed by the SigV4 credential scope. Before a call
reaches moto the layer records it, applies the latency knob and injected faults, and gives the
service's interceptor the chance to answer itself (S3 Vectors search, the MiniLM endpoint,
API Gateway quotas, Lambda states, ...) or to adjust moto's answer afterwards.

Control endpoints live under `/_localaws/` and stage invocations under
`/restapis/{api_id}/{stage}/_user_request_/{path}`; neither path is an AWS API path.

Loopback only: the server binds 127.0.0.1 and answers 403 (plain text) to any request whose
Host header is not `127.x.y.z`, `localhost` or `[::1]` (with or without a port), or has none,
so a DNS-rebound web page cannot reach it through a browser.
"""

import contextlib
import os

# One BLAS thread per model call: an endpoint with max concurrency N runs N calls at once, each
# on its own CPU (serverless containers do not share cores). OpenBLAS's default (a thread per
# core) makes two concurrent calls fight over two cores with spinning threads. Set before numpy
# is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import io
import json
import re
import signal
import socket
import sys
import threading
import time
from urllib.parse import parse_qs

from .common import ACCOUNT_ID, Call, Response, Settings, aws_error

SIGNED_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/aws4_request")

LAMBDA_ROUTES = [
    ("POST", r"/2015-03-31/functions/?$", "CreateFunction"),
    ("GET", r"/2015-03-31/functions/?$", "ListFunctions"),
    ("GET", r"/2015-03-31/functions/[^/]+/configuration$", "GetFunctionConfiguration"),
    ("PUT", r"/2015-03-31/functions/[^/]+/configuration$", "UpdateFunctionConfiguration"),
    ("PUT", r"/2015-03-31/functions/[^/]+/code$", "UpdateFunctionCode"),
    ("POST", r"/2015-03-31/functions/[^/]+/policy$", "AddPermission"),
    ("GET", r"/2015-03-31/functions/[^/]+/policy$", "GetPolicy"),
    ("DELETE", r"/2015-03-31/functions/[^/]+/policy/[^/]+$", "RemovePermission"),
    ("POST", r"/2015-03-31/functions/[^/]+/invocations$", "Invoke"),
    ("GET", r"/2015-03-31/functions/[^/]+$", "GetFunction"),
    ("DELETE", r"/2015-03-31/functions/[^/]+$", "DeleteFunction"),
    ("GET", r"/2017-03-31/tags/.+$", "ListTags"),
    ("POST", r"/2017-03-31/tags/.+$", "TagResource"),
    ("DELETE", r"/2017-03-31/tags/.+$", "UntagResource"),
]

APIGW_ROUTES = [
    ("POST", r"/restapis$", "CreateRestApi"),
    ("GET", r"/restapis$", "GetRestApis"),
    ("GET", r"/restapis/[^/]+$", "GetRestApi"),
    ("PATCH", r"/restapis/[^/]+$", "UpdateRestApi"),
    ("DELETE", r"/restapis/[^/]+$", "DeleteRestApi"),
    ("GET", r"/restapis/[^/]+/resources$", "GetResources"),
    ("POST", r"/restapis/[^/]+/resources/[^/]+$", "CreateResource"),
    ("DELETE", r"/restapis/[^/]+/resources/[^/]+$", "DeleteResource"),
    ("PUT", r"/restapis/[^/]+/resources/[^/]+/methods/[^/]+$", "PutMethod"),
    ("GET", r"/restapis/[^/]+/resources/[^/]+/methods/[^/]+$", "GetMethod"),
    ("PATCH", r"/restapis/[^/]+/resources/[^/]+/methods/[^/]+$", "UpdateMethod"),
    ("DELETE", r"/restapis/[^/]+/resources/[^/]+/methods/[^/]+$", "DeleteMethod"),
    ("PUT", r"/restapis/[^/]+/resources/[^/]+/methods/[^/]+/integration$", "PutIntegration"),
    ("GET", r"/restapis/[^/]+/resources/[^/]+/methods/[^/]+/integration$", "GetIntegration"),
    ("POST", r"/restapis/[^/]+/deployments$", "CreateDeployment"),
    ("GET", r"/restapis/[^/]+/deployments$", "GetDeployments"),
    ("GET", r"/restapis/[^/]+/stages$", "GetStages"),
    ("GET", r"/restapis/[^/]+/stages/[^/]+$", "GetStage"),
    ("PATCH", r"/restapis/[^/]+/stages/[^/]+$", "UpdateStage"),
    ("DELETE", r"/restapis/[^/]+/stages/[^/]+$", "DeleteStage"),
    ("POST", r"/apikeys$", "CreateApiKey"),
    ("GET", r"/apikeys$", "GetApiKeys"),
    ("GET", r"/apikeys/[^/]+$", "GetApiKey"),
    ("PATCH", r"/apikeys/[^/]+$", "UpdateApiKey"),
    ("DELETE", r"/apikeys/[^/]+$", "DeleteApiKey"),
    ("POST", r"/usageplans$", "CreateUsagePlan"),
    ("GET", r"/usageplans$", "GetUsagePlans"),
    ("GET", r"/usageplans/[^/]+$", "GetUsagePlan"),
    ("PATCH", r"/usageplans/[^/]+$", "UpdateUsagePlan"),
    ("DELETE", r"/usageplans/[^/]+$", "DeleteUsagePlan"),
    ("POST", r"/usageplans/[^/]+/keys$", "CreateUsagePlanKey"),
    ("GET", r"/usageplans/[^/]+/keys$", "GetUsagePlanKeys"),
    ("DELETE", r"/usageplans/[^/]+/keys/[^/]+$", "DeleteUsagePlanKey"),
    ("PUT", r"/tags/.+$", "TagResource"),
    ("GET", r"/tags/.+$", "GetTags"),
    ("DELETE", r"/tags/.+$", "UntagResource"),
]

READ_PREFIXES = ("Get", "List", "Describe", "Query", "Filter", "Invoke", "AssumeRole")


def _s3_operation(method: str, path: str, query: dict) -> tuple[str, bool]:
    """The S3 operation of a path-style request (`/bucket`, `/bucket/key`), and whether it writes.
    Subresources other than `?location` are not mapped ("Unknown": denied)."""
    bucket, _, key = path.lstrip("/").partition("/")
    subresources = set(query) - {"list-type", "prefix", "delimiter", "max-keys", "continuation-token",
                                 "start-after", "encoding-type", "fetch-owner", "marker", "x-id"}
    if not bucket:
        op = "ListBuckets" if method == "GET" else "Unknown"
    elif subresources == {"location"} and not key and method == "GET":
        op = "GetBucketLocation"
    elif subresources:
        op = "Unknown"
    elif not key:
        op = {"GET": "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects", "PUT": "CreateBucket",
              "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}.get(method, "Unknown")
    else:
        op = {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject",
              "DELETE": "DeleteObject"}.get(method, "Unknown")
    return op, method in ("PUT", "POST", "DELETE")


def _rest_operation(routes, method: str, path: str) -> str:
    for m, pattern, name in routes:
        if m == method and re.match(pattern, path):
            return name
    return f"{method} {path}"


class LocalAws:
    """The WSGI application."""

    def __init__(self, settings: Settings, endpoints: list[str], endpoint_profile: str = "serverless"):
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        from .apigateway import ApiGateway
        from .awslambda import Lambda
        from .embedding import SageMakerRuntime
        from .iam import Iam
        from .logs import Logs
        from .s3vectors import S3Vectors

        self.settings = settings
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.lock = threading.Lock()
        self.atomic_lock = threading.Lock()
        self.calls: list[Call] = []
        self.faults: list[dict] = []
        self.port = 0
        self.iam = Iam(self)
        self.lambda_ = Lambda(self)
        self.interceptors = {
            "s3vectors": S3Vectors(self),
            "sagemaker": SageMakerRuntime(self, endpoints, endpoint_profile),
            "apigateway": ApiGateway(self),
            "lambda": self.lambda_,
            "iam": self.iam,
            "logs": Logs(self),
        }

    # ---- plumbing -------------------------------------------------------------------------

    @staticmethod
    def service_of(environ) -> tuple[str, str]:
        m = SIGNED_SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not m:
            return "", ""
        region, service = m.group(1), m.group(2)
        return service.lower(), region

    @staticmethod
    def operation_of(service: str, environ, body: bytes) -> tuple[str, bool]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        if service == "lambda":
            op = _rest_operation(LAMBDA_ROUTES, method, path)
            return op, not op.startswith(READ_PREFIXES) and method != "GET"
        if service == "apigateway":
            op = _rest_operation(APIGW_ROUTES, method, path)
            return op, method not in ("GET", "HEAD")
        if service == "s3vectors":
            op = path.strip("/").split("/")[0] or "Unknown"
            if op == "tags":
                op = {"GET": "ListTagsForResource", "POST": "TagResource", "DELETE": "UntagResource"}.get(method, op)
            return op, not op.startswith(READ_PREFIXES)
        if service == "s3":
            return _s3_operation(method, path, parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        if service == "sagemaker":
            if path.endswith("/invocations"):
                return "InvokeEndpoint", False
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target:
            op = target.split(".")[-1]
            return op, not op.startswith(READ_PREFIXES)
        params = parse_qs(environ.get("QUERY_STRING", ""))
        if not params.get("Action"):
            try:
                params = parse_qs(body.decode())
            except UnicodeDecodeError:
                params = {}
        op = (params.get("Action") or ["Unknown"])[0]
        return op, not op.startswith(READ_PREFIXES)

    def take_fault(self, call: Call) -> str:
        """Counts a mutating call against the armed faults; returns the fault kind to apply.

        A fault fires on the `after`-th mutating call from when it was armed and then sticks to
        that call's service and operation: its next `count - 1` attempts (the SDK's retries)
        fail too, whatever else runs concurrently.
        """
        if not call.mutating:
            return ""
        with self.lock:
            kind = ""
            target = (call.service, call.operation)
            for fault in self.faults:
                if "target" not in fault:
                    fault["after"] -= 1
                    if fault["after"] > 0:
                        continue
                    fault["target"] = target
                if fault["target"] == target and fault["count"] > 0 and not kind:
                    kind = fault["kind"]
                    fault["count"] -= 1
            self.faults = [f for f in self.faults if f["count"] > 0]
            return kind

    def run_moto(self, environ, body: bytes) -> Response:
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        captured = {}

        def start_response(status, headers, exc_info=None):
            captured["status"] = int(status.split()[0])
            captured["headers"] = headers
            return lambda data: None

        chunks = self.moto(environ, start_response)
        try:
            payload = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        headers = {k: v for k, v in captured.get("headers", []) if k.lower() not in ("content-length",)}
        return Response(captured.get("status", 500), payload, headers)

    @staticmethod
    def drop_connection(environ) -> None:
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @staticmethod
    def send(resp: Response, start_response):
        headers = [(k, v) for k, v in resp.headers.items() if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(resp.body))))
        reason = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}.get(resp.status, "Status")
        start_response(f"{resp.status} {reason}", headers)
        return [resp.body]

    # ---- the application --------------------------------------------------------------------

    def __call__(self, environ, start_response):
        from .common import loopback_host, not_loopback

        # DNS rebinding: a browser page on a rebound name sends its own name as Host. Refused
        # before the body is read or anything is recorded (AWS APIs, control, stages alike).
        if not loopback_host(environ.get("HTTP_HOST")):
            return self.send(not_loopback(environ.get("HTTP_HOST")), start_response)
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            if path.startswith("/_localaws/"):
                return self.send(self.control(environ, path, body), start_response)
            if "/_user_request_/" in path:
                return self.send(self.interceptors["apigateway"].invoke_stage(environ, path, body), start_response)
            return self.send(self.aws_call(environ, body), start_response)
        except Response as resp:
            return self.send(resp, start_response)
        except ConnectionAbortedError:
            return []

    def aws_call(self, environ, body: bytes) -> Response:
        service, region = self.service_of(environ)
        operation, mutating = self.operation_of(service, environ, body)
        call = Call(service or "unknown", operation, mutating)
        with self.lock:
            self.calls.append(call)
        if self.settings.latency_ms > 0:
            time.sleep(self.settings.latency_ms / 1000.0)
        fault = self.take_fault(call)
        call.fault = fault
        if fault == "500":
            call.status = 500
            return aws_error(service, 500, "InternalFailure", "We encountered an internal error. Please try again.")
        if fault == "429":
            call.status = 429
            code = {"apigateway": "TooManyRequestsException", "lambda": "TooManyRequestsException",
                    "s3vectors": "TooManyRequestsException", "iam": "Throttling", "sts": "Throttling"}.get(service, "ThrottlingException")
            return aws_error(service, 429, code, "Rate exceeded", retry_after=1)
        if fault == "drop-before":
            call.status = 0
            self.drop_connection(environ)
            raise ConnectionAbortedError()
        if self.settings.enforce_iam:
            from .auth import authorize

            denied = authorize(service, operation, region, environ, body)
            if denied is not None:
                call.status = denied.status
                return denied
        interceptor = self.interceptors.get(service)
        # Check-then-create operations run whole, one at a time, as AWS applies them atomically
        # (two concurrent CreateResource calls for one path must not both succeed).
        atomic = operation in getattr(interceptor, "ATOMIC", ())
        try:
            with self.atomic_lock if atomic else contextlib.nullcontext():
                resp = interceptor.before(call, environ, body, region) if interceptor else None
                if resp is None:
                    resp = self.run_moto(environ, body)
                    if interceptor:
                        resp = interceptor.after(call, environ, body, region, resp) or resp
        except Response as r:
            resp = r
        call.status = resp.status
        if resp.status == 403 and os.environ.get("LOCALAWS_DEBUG"):
            print(f"403 {service} {operation}: {resp.body[:500]!r}", file=sys.stderr, flush=True)
        if fault == "drop":
            # The call took effect; the caller never hears of it.
            self.drop_connection(environ)
            raise ConnectionAbortedError()
        return resp

    # ---- control endpoints ------------------------------------------------------------------

    def reset(self) -> None:
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        with self.lock:
            self.calls.clear()
            self.faults.clear()
        for interceptor in self.interceptors.values():
            if hasattr(interceptor, "reset"):
                interceptor.reset()

    def control(self, environ, path: str, body: bytes) -> Response:
        method = environ["REQUEST_METHOD"]
        data = json.loads(body or b"{}") if method in ("POST", "PUT") else {}
        name = path[len("/_localaws/"):].strip("/")
        if name == "health":
            return Response(200, {"ok": True, "port": self.port, "account": ACCOUNT_ID})
        if name == "requests":
            with self.lock:
                if method == "DELETE":
                    self.calls.clear()
                    return Response(200, {"cleared": True})
                calls = [c.to_json() for c in self.calls]
            return Response(200, {"requests": calls, "mutating": sum(1 for c in calls if c["mutating"])})
        if name == "faults":
            with self.lock:
                if method == "DELETE":
                    self.faults.clear()
                elif method == "POST":
                    kind = data.get("kind", "500")
                    if kind not in ("500", "429", "drop", "drop-before"):
                        return Response(400, {"error": f"unknown fault kind {kind}"})
                    self.faults.append({"after": int(data.get("after", 1)), "kind": kind,
                                        "count": int(data.get("count", 1))})
                return Response(200, {"faults": [{k: v for k, v in f.items() if k != "target"} for f in self.faults]})
        if name == "config":
            if method == "POST":
                try:
                    self.settings.update(data)
                except (KeyError, ValueError) as e:
                    return Response(400, {"error": f"bad setting: {e}"})
            return Response(200, dict(self.settings.__dict__))
        if name == "reset" and method == "POST":
            self.reset()
            return Response(200, {"reset": True})
        if name == "endpoints":
            sm = self.interceptors["sagemaker"]
            if method == "POST":
                try:
                    sm.configure(data)
                except (TypeError, ValueError) as e:
                    return Response(400, {"error": f"bad endpoint: {e}"})
            return Response(200, sm.describe())
        if name == "credentials":
            return Response(200, self.iam.admin_credentials())
        return Response(404, {"error": f"no control endpoint {path}"})


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="The project's local AWS")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LOCALAWS_PORT", "4599")))
    parser.add_argument("--clock-scale", type=float, default=1.0)
    parser.add_argument("--lambda-pending-secs", type=float, default=1.0)
    parser.add_argument("--iam-propagation-secs", type=float, default=8.0)
    parser.add_argument("--no-apigw-quotas", action="store_true")
    parser.add_argument("--latency-ms", type=float, default=Settings.latency_ms,
                        help="milliseconds added to every AWS call")
    parser.add_argument("--endpoint", action="append", default=[], help="an embedding endpoint name")
    parser.add_argument("--endpoint-profile", choices=("serverless", "realtime"), default="serverless",
                        help="limits of the endpoints given at start (serverless: 4 MiB, 2 concurrent calls)")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--enforce-iam", action="store_true",
                        help="check every call against the caller's IAM policies (use /_localaws/credentials)")
    args = parser.parse_args(argv)

    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    from .httpserver import make_server

    settings = Settings(
        clock_scale=args.clock_scale,
        lambda_pending_secs=args.lambda_pending_secs,
        lambda_update_secs=args.lambda_pending_secs,
        iam_propagation_secs=args.iam_propagation_secs,
        apigw_quotas=not args.no_apigw_quotas,
        latency_ms=args.latency_ms,
        enforce_iam=args.enforce_iam,
    )
    app = LocalAws(settings, args.endpoint or ["alex-embedding-endpoint"], args.endpoint_profile)
    server = make_server("127.0.0.1", args.port, app)
    app.port = server.server_address[1]
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(str(app.port))
    print(f"local AWS listening on http://127.0.0.1:{app.port}", file=sys.stderr, flush=True)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever()
    finally:
        app.lambda_.shutdown()


if __name__ == "__main__":
    main()
