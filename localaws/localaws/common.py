"""Shared helpers: settings, the request record, and protocol-correct error responses."""

import json
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field

ACCOUNT_ID = "123456789012"


@dataclass
class Settings:
    """Knobs, set from flags at start and through POST /_localaws/config."""

    # Real-AWS timings are multiplied by this (0.1 makes a 30 s quota 3 s).
    clock_scale: float = 1.0
    # Seconds a new function stays Pending / an update stays InProgress (unscaled).
    lambda_pending_secs: float = 1.0
    lambda_update_secs: float = 1.0
    # Seconds before a new IAM role can be assumed by Lambda (unscaled).
    iam_propagation_secs: float = 8.0
    # Enforce API Gateway control-plane quotas.
    apigw_quotas: bool = True
    # Milliseconds added to every AWS call (a call from Lambda to an AWS API in its region takes
    # a network round trip and the service's own time: tens of milliseconds).
    latency_ms: float = 10.0
    # Seconds API Gateway waits for a Lambda integration before answering 504 (not clock scaled;
    # the invocation itself runs on until the function's own timeout).
    apigw_integration_timeout_secs: float = 29.0
    # Kill a Lambda process whose peak RSS exceeds the function's MemorySize (Runtime.OutOfMemory).
    lambda_enforce_memory: bool = True
    # Run each Lambda execution environment under a CPU quota of MemorySize/1,769 of a core
    # (cgroup v1 or v2; see cpuquota.py). Off only for a test that says why.
    lambda_cpu_quota: bool = True
    # Seconds an idle warm Lambda process is kept.
    lambda_idle_secs: float = 300.0
    # Concurrent executions across the account's functions (new accounts: 10); 0: unlimited.
    lambda_concurrency: int = 10
    # Check calls against IAM (fixed at start: `--enforce-iam`).
    enforce_iam: bool = False
    # S3 Vectors: the default index mode of vector buckets created from now on. ENHANCED is what
    # buckets created on or after 2026-09-30 get; CLASSIC makes new buckets behave as buckets
    # created before that date (their indexes default to CLASSIC, which only they may go back to).
    s3vectors_default_index_mode: str = "ENHANCED"
    # S3 Vectors: seconds a QueryVectors nextToken stays valid after the query ran (unscaled).
    s3vectors_query_token_secs: float = 300.0
    # S3 Vectors write quotas per index and second (PutVectors + DeleteVectors); 0: no quota.
    s3vectors_write_requests_per_sec: int = 1000
    s3vectors_write_vectors_per_sec: int = 2500

    def scaled(self, seconds: float) -> float:
        return seconds * self.clock_scale

    def update(self, values: dict) -> None:
        for key, value in values.items():
            if not hasattr(self, key):
                raise KeyError(key)
            if key == "s3vectors_default_index_mode" and value not in ("CLASSIC", "ENHANCED"):
                raise ValueError(f"{key} must be CLASSIC or ENHANCED, not {value!r}")
            setattr(self, key, type(getattr(self, key))(value))


@dataclass
class Call:
    service: str
    operation: str
    mutating: bool
    status: int = 0
    fault: str = ""
    at: float = field(default_factory=time.time)
    # InvokeEndpoint only: the endpoint, input strings, tokens per input ([CLS]/[SEP] included,
    # after truncation), request and answer sizes in bytes, the container's time in ms.
    endpoint: str | None = None
    inputs: int | None = None
    tokens: list[int] | None = None
    request_bytes: int | None = None
    answer_bytes: int | None = None
    model_ms: float | None = None

    def to_json(self) -> dict:
        out = {
            "service": self.service,
            "operation": self.operation,
            "mutating": self.mutating,
            "status": self.status,
            "fault": self.fault,
        }
        for key in ("endpoint", "inputs", "tokens", "request_bytes", "answer_bytes", "model_ms"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class Response(Exception):
    """A complete HTTP answer; raised or returned by interceptors."""

    def __init__(self, status: int, body: bytes | str | dict | list = b"", headers: dict | None = None):
        super().__init__(status)
        self.status = status
        self.headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            self.headers.setdefault("Content-Type", "application/json")
        self.body = body.encode() if isinstance(body, str) else body


# A Host header naming this machine's loopback: localhost, 127.x.y.z or [::1], any port.
LOOPBACK_HOST = re.compile(r"(localhost|127(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}|\[::1\])(:\d{1,5})?", re.I)


def loopback_host(host: str | None) -> bool:
    """Whether `host` (an HTTP Host header) names the loopback interface. Everything this
    process serves refuses other names, so a web page whose domain was rebound to 127.0.0.1
    (DNS rebinding) cannot drive the local AWS or a function's Runtime API from a browser."""
    return bool(host) and LOOPBACK_HOST.fullmatch(host) is not None


def not_loopback(host: str | None) -> Response:
    """403 for a request whose Host is not a loopback name (or that has no Host)."""
    shown = repr(host[:100]) if host else "missing"
    return Response(403, f"Forbidden: this local AWS answers only requests addressed to 127.0.0.1, localhost or [::1] "
                         f"(Host was {shown}).\n", {"Content-Type": "text/plain; charset=utf-8", "Connection": "close"})


# Services whose errors are XML (query protocol).
QUERY_PROTOCOL = {"iam", "sts"}


def aws_error(service: str, status: int, code: str, message: str, retry_after: float | None = None) -> Response:
    """An error shaped as the service's protocol shapes it."""
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id}
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    if service in QUERY_PROTOCOL:
        kind = "Receiver" if status >= 500 else "Sender"
        body = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        headers["Content-Type"] = "text/xml"
        return Response(status, body, headers)
    if service == "s3":
        # S3's REST-XML errors: <Error> at the root, the request id inside.
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{request_id}</RequestId></Error>"
        )
        headers["Content-Type"] = "application/xml"
        return Response(status, body, headers)
    headers["x-amzn-ErrorType"] = code
    if service == "lambda":
        body = {"Type": "User" if status < 500 else "Service", "Message": message, "__type": code}
        if retry_after is not None:
            body["retryAfterSeconds"] = str(headers["Retry-After"])
    else:
        body = {"__type": code, "message": message}
    return Response(status, body, headers)


class Clock:
    """Monotonic time, shared so tests can reason about it."""

    lock = threading.Lock()

    @staticmethod
    def now() -> float:
        return time.monotonic()
