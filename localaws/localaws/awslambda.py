"""Lambda: states, permission semantics, IAM propagation, and a real Runtime API.

After CreateFunction the function is `Pending`, after an update `LastUpdateStatus` is
`InProgress`, each for a configurable (clock-scaled) time; an update meanwhile is a
ResourceConflictException. CreateFunction, or UpdateFunctionConfiguration naming a role, with a
role younger than the propagation window (`iam_propagation_secs`, clock scaled) is
InvalidParameterValueException, deterministically: in the window's first half "The role defined
for the function cannot be assumed by Lambda."; in its second half, if the function has
environment variables (the request's, else the function's current ones on an update), the KMS
grant error Lambda gives when it cannot yet grant the role its environment-variable key ("Lambda
was unable to configure access to your environment variables because the KMS key is invalid for
CreateGrant. ... ARN does not refer to a valid principal: {role ARN}"), else "cannot be
assumed" again. A role that does not exist is always "cannot be assumed".
Deployment packages (`ZipFile` on CreateFunction and UpdateFunctionCode) are checked like
Lambda's: not a zip, a corrupt member, a member with an absolute path or a `..` component, or a
symlink pointing outside the package is InvalidParameterValueException "Could not unzip uploaded
file. Please check your file, then try to upload again."; more than 262,144,000 bytes unzipped
(250 MB) is "Unzipped size must be smaller than 262144000 bytes".
AddPermission with an existing StatementId is a ResourceConflictException; RemovePermission of
a missing one a ResourceNotFoundException.

Invocation (from the local API Gateway): the function's uploaded zip is unpacked member by
member (every path, symlinks resolved, must stay inside the package's directory), its
`bootstrap` started with the function's environment plus the local endpoint and credentials of
its execution role (STS AssumeRole), and driven through the Lambda Runtime API on a private
loopback port. Each execution environment runs one invocation at a time; concurrent invocations
run in parallel environments (each new one with its own init and log stream) up to the account's
concurrency (`lambda_concurrency`, 10 as for new accounts; 0: unlimited), beyond which an
invocation is throttled (API Gateway answers a REST proxy integration's throttled Lambda with 500
"Internal server error"). The process is kept warm until its code or configuration changes; the timeout is
enforced (`Lambda-Runtime-Deadline-Ms` is the invocation's start plus the function's timeout); a
crash, an error or a malformed reply is reported to API Gateway as a 502; a timeout, a crash or
running out of memory ends the execution environment (a function error does not). A response over
6,291,556 bytes is refused to the runtime with 413 RequestEntityTooLarge "Response payload size
exceeded maximum allowed payload size (6291556 bytes)." and fails the invocation. A process whose
peak RSS (`VmHWM`) exceeds the function's MemorySize is killed and the invocation fails with
`Runtime.OutOfMemory` (`lambda_enforce_memory`). Each environment gets CPU in proportion to its
memory, as on Lambda: MemorySize/1,769 of a core, enforced with a cgroup CPU quota
(`lambda_cpu_quota`; cpuquota.py says how, and what happens where cgroups cannot be used). The Runtime API, like the server, answers 403
to a Host header that is not a loopback name.

Logs, as Lambda writes them: everything the process writes to stdout and stderr, one log event
per line (the newline kept), and the platform lines `INIT_START Runtime Version: …` (once per
environment), `START RequestId: {id} Version: $LATEST` (when the runtime takes the invocation,
after the environment's init output), `END RequestId: {id}` and `REPORT RequestId: {id}\tDuration:
… ms\tBilled Duration: … ms\tMemory Size: … MB\tMax Memory Used: … MB\t` (+ `Init Duration: … ms\t`
on an environment's first invocation; custom runtimes are billed for init; Max Memory Used is the
peak RSS). After REPORT, a failed invocation adds `RequestId: {id} Error: Runtime exited with error:
exit status N` / `signal: killed` and `Runtime.ExitError` / `Runtime.OutOfMemory`, or
`{timestamp} {id} Task timed out after N.00 seconds`. The lines go to the local file
`lambda-{function}.log` and to CloudWatch Logs, log group `/aws/lambda/{function}`, stream
`YYYY/MM/DD/[$LATEST]{32 hex}` (one per execution environment; also in the function's
AWS_LAMBDA_LOG_STREAM_NAME), each event timestamped when the line was read. They are delivered as
the function's execution role (its inline and attached policies and permissions boundary, judged
by `auth.judge` whether or not `--enforce-iam` is on): a missing group is created only if the role
may logs:CreateLogGroup, the stream only if it may logs:CreateLogStream, the events only if it may
logs:PutLogEvents; otherwise they are dropped, as Lambda drops them. Not modelled: LoggingConfig
(JSON log format, log levels, a custom log group), CloudWatch's event-size limits, delivery delay.
"""

import base64
import binascii
import functools
import hashlib
import io
import json
import math
import os
import posixpath
import queue
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
import zlib
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import cpuquota
from .common import ACCOUNT_ID, Response, aws_error, loopback_host, not_loopback

FUNCTION_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)")
# Lambda's synchronous response payload cap, bytes.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
# Seconds between peak-RSS checks of a running invocation.
MEMORY_POLL_SECS = 0.01
# Lambda's limit on a deployment package's unzipped size (250 MB), bytes.
MAX_UNZIPPED_BYTES = 262_144_000
UNZIP_ERROR = "Could not unzip uploaded file. Please check your file, then try to upload again."
NOT_ASSUMABLE = "The role defined for the function cannot be assumed by Lambda."
KMS_GRANT_ERROR = ("Lambda was unable to configure access to your environment variables because the KMS key is "
                   "invalid for CreateGrant. Please check your KMS key settings. KMS Exception: InvalidArnException "
                   "KMS Message: ARN does not refer to a valid principal: {role}")
# The runtime named in INIT_START lines (Lambda logs the version of the managed runtime that
# started the environment; this names the local one).
RUNTIME_VERSION = "provided:al2023.v0-localaws"
RUNTIME_VERSION_ARN = "arn:aws:lambda:{region}::runtime:" + hashlib.sha256(b"localaws provided.al2023").hexdigest()
# What a damaged zip can raise while it is read.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
              ValueError, UnicodeDecodeError)


def _error(status, code, message):
    return aws_error("lambda", status, code, message)


def _member_path(name: str) -> str | None:
    """A zip member's path relative to the package root ("" for the root itself), or None when it
    is absolute or has a `..` component (either separator counts)."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts:
        return None
    return "/".join(p for p in parts if p not in ("", "."))


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _link_target(zf: zipfile.ZipFile, info: zipfile.ZipInfo, rel: str) -> str | None:
    """A symlink member's target, or None when it is absolute or leads outside the package."""
    if info.file_size > 4096:
        return None
    target = zf.read(info).decode()
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
        return None
    return target


def zip_problem(code: bytes) -> str | None:
    """Lambda's message refusing this deployment package, or None if it is acceptable."""
    try:
        with zipfile.ZipFile(io.BytesIO(code)) as zf:
            infos = zf.infolist()
            for info in infos:
                rel = _member_path(info.filename)
                if rel is None or (_is_symlink(info) and _link_target(zf, info, rel) is None):
                    return UNZIP_ERROR
            if sum(i.file_size for i in infos) > MAX_UNZIPPED_BYTES:
                return f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
            if zf.testzip() is not None:
                return UNZIP_ERROR
    except ZIP_ERRORS:
        return UNZIP_ERROR
    return None


def extract(code: bytes, dest: str) -> None:
    """Unpacks a deployment package into `dest` member by member, keeping modes and symlinks.
    Raises zipfile.BadZipFile, having written nothing outside `dest`, when a member's directory
    (symlinks resolved) or a symlink's target would leave `dest`, or the package is too big."""
    root = os.path.realpath(dest)

    def inside(path: str) -> str:
        real = os.path.realpath(path)
        if os.path.commonpath([root, real]) != root:
            raise zipfile.BadZipFile(f"{path!r} resolves outside the package")
        return real

    with zipfile.ZipFile(io.BytesIO(code)) as zf:
        infos = zf.infolist()
        if sum(i.file_size for i in infos) > MAX_UNZIPPED_BYTES:
            raise zipfile.BadZipFile("over the unzipped size limit")
        for info in infos:
            rel = _member_path(info.filename)
            if rel is None:
                raise zipfile.BadZipFile(f"unsafe member {info.filename!r}")
            if not rel:
                continue
            parent = inside(os.path.join(root, posixpath.dirname(rel)))
            path = os.path.join(parent, posixpath.basename(rel))
            if info.is_dir():
                os.makedirs(inside(path), exist_ok=True)
                continue
            os.makedirs(parent, exist_ok=True)
            if os.path.islink(path):  # a later member replaces an earlier symlink, not its target
                os.remove(path)
            if _is_symlink(info):
                target = _link_target(zf, info, rel)
                if target is None:
                    raise zipfile.BadZipFile(f"symlink {info.filename!r} leads outside the package")
                inside(os.path.join(parent, target))
                os.symlink(target, path)
                continue
            with zf.open(info) as src, open(path, "wb") as out:
                shutil.copyfileobj(src, out)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(path, mode)


class Invocation:
    def __init__(self, event: dict, deadline_ms: int):
        self.id = str(uuid.uuid4())
        self.event = json.dumps(event).encode()
        self.deadline_ms = deadline_ms
        self.done = threading.Event()
        self.ok = False
        self.payload = b""
        self.delivered: float | None = None  # when the runtime took it (GET /next)


class WarmFunction:
    """One `bootstrap` process and its Runtime API server."""

    def __init__(self, key, code: bytes, env: dict, function_arn: str, log_path: str, ship=None,
                 region: str = "us-east-1", quota: cpuquota.Quota | None = None):
        self.key = key
        self.quota = quota or cpuquota.Quota(0, None, "no quota was asked for")
        self.function_arn = function_arn
        self.pending: "queue.Queue[Invocation]" = queue.Queue()
        self.inflight: dict[str, Invocation] = {}
        self.init_error = None
        self.last_used = time.monotonic()
        self.dir = tempfile.mkdtemp(prefix="localaws-lambda-")
        try:
            try:
                extract(code, self.dir)
            except ZIP_ERRORS as e:
                raise zipfile.BadZipFile(str(e)) from e
            bootstrap = os.path.join(self.dir, "bootstrap")
            if not os.path.isfile(bootstrap) or not os.stat(bootstrap).st_mode & stat.S_IXUSR:
                raise RuntimeError("Runtime.InvalidEntrypoint: bootstrap is missing or not executable")
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        env = dict(env)
        env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{self.server.server_address[1]}"
        env["LAMBDA_TASK_ROOT"] = self.dir
        self.log = open(log_path, "ab")
        # stdout and stderr go through a pipe: each line is written to the log file as it comes
        # and shipped (`ship`, a callable taking [(epoch ms, message)]) like Lambda's log capture.
        self.ship = ship
        self.io_lock = threading.Lock()
        self.partial = b""
        self.closed = False
        self.started = time.monotonic()
        self.init_done: float | None = None  # when the runtime first asked for an invocation
        self.cold = True
        self.broken = False  # timed out, crashed or out of memory: the environment is done
        self.busy = False  # running an invocation (set and cleared under Lambda.lock)
        self.write_log(f"INIT_START Runtime Version: {RUNTIME_VERSION}\tRuntime Version ARN: "
                       f"{RUNTIME_VERSION_ARN.format(region=region)}\n")
        if not self.quota.throttled:
            # Said on every start: this environment's timings are not AWS's.
            notice = self.quota.describe()
            self.write_log(notice + "\n")
            print(notice, file=sys.stderr, flush=True)
        out_r, out_w = os.pipe()
        try:
            self.proc = subprocess.Popen(self.quota.command(bootstrap), cwd=self.dir, env=env, stdout=out_w, stderr=out_w,
                                         stdin=subprocess.DEVNULL)
        except BaseException:
            os.close(out_r)
            self.quota.remove()
            raise
        finally:
            os.close(out_w)
        os.set_blocking(out_r, False)
        self.out = out_r
        self.reader = threading.Thread(target=self._pump, daemon=True, name="lambda-output")
        self.reader.start()

    def _handler(self):
        warm = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Kept-alive connections with small writes: without TCP_NODELAY, Nagle's algorithm
            # and the peer's delayed ACK stall each answer's body by ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _reply(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _foreign(self) -> bool:
                """Refuses (403) a request whose Host is not a loopback name."""
                host = self.headers.get("Host")
                if loopback_host(host):
                    return False
                resp = not_loopback(host)
                self.close_connection = True
                self._reply(resp.status, resp.body, resp.headers)
                return True

            def do_GET(self):
                if self._foreign():
                    return
                if self.path != "/2018-06-01/runtime/invocation/next":
                    return self._reply(404)
                if warm.init_done is None:
                    warm.init_done = time.monotonic()
                inv = warm.pending.get()
                if inv is None:
                    return self._reply(410)
                inv.delivered = time.monotonic()
                warm.inflight[inv.id] = inv
                # START is logged when the invocation begins, after the environment's init output.
                warm.write_log(f"START RequestId: {inv.id} Version: $LATEST\n")
                self._reply(200, inv.event, {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": inv.id,
                    "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": warm.function_arn,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
                })

            def do_POST(self):
                if self._foreign():
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path == "/2018-06-01/runtime/init/error":
                    warm.init_error = body
                    return self._reply(202, b'{"status":"OK"}')
                m = re.match(r"^/2018-06-01/runtime/invocation/([^/]+)/(response|error)$", self.path)
                if not m or m.group(1) not in warm.inflight:
                    return self._reply(400, b'{"errorMessage":"unknown request id"}')
                inv = warm.inflight.pop(m.group(1))
                if m.group(2) == "response" and len(body) > MAX_RESPONSE_BYTES:
                    message = f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
                    error = {"errorMessage": message, "errorType": "RequestEntityTooLarge"}
                    warm.write_log(f"RequestId: {inv.id} Error: {message}\n")
                    inv.ok = False
                    inv.payload = json.dumps(error).encode()
                    inv.done.set()
                    return self._reply(413, inv.payload, {"Content-Type": "application/json"})
                inv.ok = m.group(2) == "response"
                inv.payload = body
                inv.done.set()
                self._reply(202, b'{"status":"OK"}')

        return Handler

    def alive(self) -> bool:
        return self.proc.poll() is None and self.init_error is None

    # ---- log capture ------------------------------------------------------------------------

    def _pump(self) -> None:
        """Reads the runtime's output as it comes until the pipe closes or the environment stops."""
        while not self.closed:
            try:
                ready, _, _ = select.select([self.out], [], [], 0.2)
            except (OSError, ValueError):
                return
            if ready and not self.drain():
                return

    def drain(self) -> bool:
        """Takes everything the runtime has written so far (False once the pipe is closed). Output
        written before the runtime posts its response is in the pipe by then, so draining before
        the END line keeps an invocation's lines between its START and END."""
        with self.io_lock:
            if self.closed and self.out < 0:
                return False
            while True:
                try:
                    chunk = os.read(self.out, 65536)
                except BlockingIOError:
                    return True
                except OSError:
                    chunk = b""
                if not chunk:
                    self._lines(b"", final=True)
                    return False
                self._lines(chunk)

    def _lines(self, chunk: bytes, final: bool = False) -> None:
        """Writes raw output to the log file; each complete line becomes one log event."""
        self._write_file(chunk)
        lines = (self.partial + chunk).split(b"\n")
        # The text after the last newline waits for the rest of its line (or the end of the output).
        rest = lines.pop()
        self.partial = b"" if final else rest
        now = int(time.time() * 1000)
        events = [(now, line.decode("utf-8", errors="replace") + "\n") for line in lines]
        if final and rest:
            events.append((now, rest.decode("utf-8", errors="replace")))
        self._ship(events)

    def _write_file(self, data: bytes) -> None:
        if not data:
            return
        try:
            self.log.write(data)
            self.log.flush()
        except ValueError:  # closed: the process was stopped meanwhile
            pass

    def _ship(self, events) -> None:
        if events and self.ship is not None:
            try:
                self.ship(events)
            except Exception:  # noqa: BLE001 - log delivery never fails an invocation
                pass

    def write_log(self, text: str) -> None:
        """A platform line (or lines), after whatever the runtime wrote before it."""
        if getattr(self, "out", -1) >= 0:
            self.drain()
        with self.io_lock:
            self._write_file(text.encode())
            now = int(time.time() * 1000)
            self._ship([(now, line + "\n") for line in text.split("\n")[:-1] if line] or
                       ([(now, text)] if text else []))

    def peak_rss_kb(self) -> int:
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def end_and_report(self, inv: Invocation, memory_mb: int | None, peak_kb: int) -> None:
        """Lambda's END and REPORT lines. Duration runs from when the runtime took the invocation;
        the first invocation of an environment also reports its Init Duration, which a custom
        runtime (`provided.*`) is billed for."""
        now = time.monotonic()
        duration = (now - (inv.delivered or now)) * 1000
        init = ""
        billed = duration
        if self.cold and self.init_done is not None:
            init_ms = (self.init_done - self.started) * 1000
            init = f"Init Duration: {init_ms:.2f} ms\t"
            billed += init_ms
        self.cold = False
        # Not a field of Lambda's: marks a run that had more CPU than AWS would give it.
        unthrottled = "" if self.quota.throttled else "CPU Quota: none (unthrottled)\t"
        self.write_log(f"END RequestId: {inv.id}\n")
        # "Max Memory Used" is the environment's peak RSS (VmHWM).
        self.write_log(f"REPORT RequestId: {inv.id}\tDuration: {duration:.2f} ms\tBilled Duration: {math.ceil(billed)} ms\t"
                       f"Memory Size: {memory_mb or '-'} MB\tMax Memory Used: {-(-peak_kb // 1024)} MB\t{init}"
                       f"{unthrottled}\n")

    def out_of_memory(self, inv: Invocation, memory_mb: int | None) -> tuple[bool, bytes]:
        self.broken = True
        peak_kb = self.peak_rss_kb()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.end_and_report(inv, memory_mb, peak_kb)
        message = f"RequestId: {inv.id} Error: Runtime exited with error: signal: killed"
        self.write_log(f"{message}\nRuntime.OutOfMemory\n")
        return False, json.dumps({"errorMessage": message, "errorType": "Runtime.OutOfMemory"}).encode()

    def failed(self, inv: Invocation, memory_mb: int | None, timeout: float) -> tuple[bool, bytes]:
        """The runtime exited or the function's timeout passed: END, REPORT and Lambda's error."""
        self.broken = True
        peak_kb = self.peak_rss_kb()
        code = self.proc.poll()
        self.end_and_report(inv, memory_mb, peak_kb)
        if code is not None:
            status = f"signal: {signal.Signals(-code).name[3:].lower()}" if code < 0 else f"exit status {code}"
            message = f"RequestId: {inv.id} Error: Runtime exited with error: {status}"
            self.write_log(f"{message}\nRuntime.ExitError\n")
            return False, json.dumps({"errorMessage": message, "errorType": "Runtime.ExitError"}).encode()
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        message = f"Task timed out after {timeout:.2f} seconds"
        self.write_log(f"{stamp} {inv.id} {message}\n")
        return False, json.dumps({"errorMessage": f"{stamp} {inv.id} {message}"}).encode()

    def invoke(self, event: dict, timeout: float, memory_mb: int | None = None,
               enforce_memory: bool = True) -> tuple[bool, bytes]:
        """Runs one invocation; with `memory_mb` and `enforce_memory`, polls the process's peak RSS
        against it."""
        self.last_used = time.monotonic()
        inv = Invocation(event, int((time.time() + timeout) * 1000))
        self.pending.put(inv)
        deadline = time.monotonic() + timeout
        limit_kb = memory_mb * 1024 if memory_mb and enforce_memory else 0
        while not inv.done.wait(MEMORY_POLL_SECS if limit_kb else 0.05):
            if limit_kb and self.peak_rss_kb() > limit_kb:
                return self.out_of_memory(inv, memory_mb)
            if not self.alive() or time.monotonic() > deadline:
                return self.failed(inv, memory_mb, timeout)
        peak_kb = self.peak_rss_kb()
        if limit_kb and peak_kb > limit_kb:
            return self.out_of_memory(inv, memory_mb)
        self.end_and_report(inv, memory_mb, peak_kb)
        return inv.ok, inv.payload

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.quota.remove()
        self.drain()
        self.closed = True
        self.reader.join(timeout=1)
        with self.io_lock:
            if self.out >= 0:
                os.close(self.out)
                self.out = -1
        self.pending.put(None)
        self.server.shutdown()
        self.server.server_close()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Lambda:
    def __init__(self, aws):
        self.aws = aws
        self.lock = threading.Lock()
        self.pending_until: dict[str, float] = {}
        self.updating_until: dict[str, float] = {}
        # Per function: its execution environments, each running one invocation at a time.
        self.warm: dict[str, list[WarmFunction]] = {}
        self.starting = 0  # environments being created (they count against concurrency)
        self.log_lock = threading.Lock()

    def reset(self):
        self.shutdown()
        self.pending_until.clear()
        self.updating_until.clear()

    def shutdown(self):
        with self.lock:
            warm, self.warm = [w for envs in self.warm.values() for w in envs], {}
        for w in warm:
            w.stop()
        cpuquota.cleanup()

    @staticmethod
    def backend(region):
        from moto.awslambda.models import lambda_backends

        return lambda_backends[ACCOUNT_ID][region]

    def function(self, region, name):
        from moto.awslambda.exceptions import UnknownFunctionException

        try:
            return self.backend(region).get_function(name)
        except UnknownFunctionException:
            return None
        except Exception:  # noqa: BLE001 - moto raises several not-found types
            return None

    # ---- control plane --------------------------------------------------------------------

    def before(self, call, environ, body, region):
        op = call.operation
        path = environ.get("PATH_INFO", "")
        m = FUNCTION_PATH.match(path)
        name = m.group(1).rsplit(":", 1)[-1] if m else None
        req = {}
        if body:
            try:
                req = json.loads(body)
            except ValueError:
                req = {}
        if op in ("CreateFunction", "UpdateFunctionCode"):
            zipped = (req.get("Code") or {}).get("ZipFile") if op == "CreateFunction" else req.get("ZipFile")
            try:
                problem = zip_problem(base64.b64decode(zipped, validate=True)) if zipped else None
            except (binascii.Error, TypeError):
                problem = UNZIP_ERROR
            if problem:
                return _error(400, "InvalidParameterValueException", problem)
        if op == "CreateFunction" or (op == "UpdateFunctionConfiguration" and req.get("Role")):
            if "Environment" in req or op == "CreateFunction":
                env = (req.get("Environment") or {}).get("Variables")
            else:
                env = getattr(self.function(region, name), "environment_vars", None)
            refusal = self.role_refusal(req.get("Role") or "", bool(env))
            if refusal:
                return refusal
        if op in ("UpdateFunctionConfiguration", "UpdateFunctionCode"):
            fn = self.function(region, name)
            if fn is not None:
                now = time.monotonic()
                if self.pending_until.get(fn.function_name, 0) > now:
                    return _error(409, "ResourceConflictException",
                                  "The operation cannot be performed at this time. The function is currently in the following state: Pending")
                if self.updating_until.get(fn.function_name, 0) > now:
                    return _error(409, "ResourceConflictException",
                                  f"The operation cannot be performed at this time. An update is in progress for resource: {fn.function_arn}")
        if op == "AddPermission":
            fn = self.function(region, name)
            sid = req.get("StatementId")
            if fn is not None and any(s.get("Sid") == sid for s in fn.policy.statements):
                return _error(409, "ResourceConflictException",
                              f"The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement.")
        if op == "RemovePermission":
            fn = self.function(region, name)
            sid = path.rsplit("/", 1)[-1]
            if fn is not None:
                if not fn.policy.statements:
                    return _error(404, "ResourceNotFoundException", "No policy is associated with the given resource.")
                if not any(s.get("Sid") == sid for s in fn.policy.statements):
                    return _error(404, "ResourceNotFoundException", f"Statement {sid} is not found in resource policy.")
        return None

    def role_refusal(self, role_arn: str, with_environment: bool) -> Response | None:
        """Lambda's answer while the role is too new (see the module's docstring), else None."""
        iam, settings = self.aws.iam, self.aws.settings
        if iam.assumable(role_arn):
            return None
        created = iam.created.get(role_arn.rsplit("/", 1)[-1])
        half = settings.scaled(settings.iam_propagation_secs) / 2
        if with_environment and created is not None and time.monotonic() - created >= half:
            return _error(400, "InvalidParameterValueException", KMS_GRANT_ERROR.format(role=role_arn))
        return _error(400, "InvalidParameterValueException", NOT_ASSUMABLE)

    def _patch_state(self, name: str, config: dict) -> None:
        now = time.monotonic()
        if self.pending_until.get(name, 0) > now:
            config["State"] = "Pending"
            config["StateReason"] = "The function is being created."
            config["StateReasonCode"] = "Creating"
        else:
            config["State"] = "Active"
            config.pop("StateReason", None)
            config.pop("StateReasonCode", None)
        if self.updating_until.get(name, 0) > now:
            config["LastUpdateStatus"] = "InProgress"
            config["LastUpdateStatusReason"] = "The function is being updated."
            config["LastUpdateStatusReasonCode"] = "Creating"
        else:
            config["LastUpdateStatus"] = "Successful"
            config.pop("LastUpdateStatusReason", None)
            config.pop("LastUpdateStatusReasonCode", None)

    def after(self, call, environ, body, region, resp):
        op = call.operation
        if resp.status >= 300 or op not in ("CreateFunction", "GetFunction", "GetFunctionConfiguration",
                                            "UpdateFunctionCode", "UpdateFunctionConfiguration", "DeleteFunction"):
            return None
        if op == "DeleteFunction":
            name = FUNCTION_PATH.match(environ["PATH_INFO"]).group(1).rsplit(":", 1)[-1]
            self.pending_until.pop(name, None)
            self.updating_until.pop(name, None)
            return None
        out = json.loads(resp.body)
        config = out.get("Configuration", out)
        name = config.get("FunctionName")
        settings = self.aws.settings
        if op == "CreateFunction":
            self.pending_until[name] = time.monotonic() + settings.scaled(settings.lambda_pending_secs)
        elif op in ("UpdateFunctionCode", "UpdateFunctionConfiguration"):
            self.updating_until[name] = time.monotonic() + settings.scaled(settings.lambda_update_secs)
        self._patch_state(name, config)
        headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-type"}
        return Response(resp.status, out, headers)

    # ---- invocation ---------------------------------------------------------------------

    @staticmethod
    def allowed_by_policy(fn, invoked_arn: str, source_arn: str) -> bool:
        """Whether the function's resource policy lets API Gateway (`apigateway.amazonaws.com`)
        invoke `invoked_arn` for a request whose execute-api ARN is `source_arn`: a statement's
        Action, Resource and every Condition (AWS:SourceArn, AWS:SourceAccount, ...) must match,
        as IAM evaluates them; an explicit Deny wins."""
        from .policy import _values, condition_holds, like, statement_resource_matches

        context = {"aws:sourcearn": source_arn, "aws:sourceaccount": ACCOUNT_ID}
        verdict = False
        for s in fn.policy.statements:
            principal = s.get("Principal", {})
            named = principal.get("Service", principal.get("AWS")) if isinstance(principal, dict) else principal
            if not any(p in ("apigateway.amazonaws.com", "*") for p in _values(named)):
                continue
            if not any(like(a, "lambda:InvokeFunction", True) for a in _values(s.get("Action", []))):
                continue
            if not statement_resource_matches(s, invoked_arn):
                continue
            holds = [condition_holds(op, key, _values(wanted), context)
                     for op, block in (s.get("Condition") or {}).items() for key, wanted in block.items()]
            if any(h is False for h in holds):
                continue
            if s.get("Effect") == "Deny":  # an operator the evaluator does not know fails closed
                return False
            if any(h is None for h in holds):
                continue
            verdict = verdict or s.get("Effect") == "Allow"
        return verdict

    def role_credentials(self, fn, region) -> dict:
        from moto.sts.models import sts_backends

        backend = sts_backends[ACCOUNT_ID]["global"]
        role = backend.assume_role(region_name=region, role_session_name=fn.function_name, role_arn=fn.role,
                                   policy=None, duration=3600, external_id=None)
        return {"AWS_ACCESS_KEY_ID": role.access_key_id, "AWS_SECRET_ACCESS_KEY": role.secret_access_key,
                "AWS_SESSION_TOKEN": role.session_token}

    def invoke_from_apigateway(self, function_arn: str, source_arn: str, event: dict) -> tuple[int, bytes]:
        parts = function_arn.split(":")
        region, name = (parts[3], parts[6]) if len(parts) >= 7 else ("us-east-1", function_arn)
        fn = self.function(region, name)
        invoked = function_arn[:-len(":$LATEST")] if function_arn.endswith(":$LATEST") else function_arn
        if fn is None or not self.allowed_by_policy(fn, invoked, source_arn):
            return 500, b""
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.function_name}",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.aws.port}",
        }
        env.update(fn.environment_vars or {})
        env.update(self.role_credentials(fn, region))
        key = hashlib.sha256(json.dumps([fn.code_sha_256, fn.environment_vars, fn.role, fn.timeout,
                                         fn.memory_size], sort_keys=True, default=str).encode()).hexdigest()
        log_dir = os.environ.get("LOCALAWS_STATE_DIR") or tempfile.gettempdir()
        # Each concurrent invocation gets an idle environment of its own, else a new one (with its
        # init), up to the account's concurrency; beyond it the invocation is throttled.
        stale, warm, throttled = [], None, False
        with self.lock:
            envs = self.warm.setdefault(fn.function_name, [])
            for w in [w for w in envs if not w.busy and (w.key != key or not w.alive())]:
                envs.remove(w)
                stale.append(w)
            warm = next((w for w in envs if not w.busy), None)
            if warm is not None:
                warm.busy = True
            else:
                limit = self.aws.settings.lambda_concurrency
                running = sum(w.busy for es in self.warm.values() for w in es) + self.starting
                throttled = bool(limit) and running >= limit
                if not throttled:
                    self.starting += 1
        for w in stale:
            w.stop()
        if throttled:
            return 429, b""
        if warm is None:
            # One log stream per execution environment, named like Lambda's.
            stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[$LATEST]{uuid.uuid4().hex}"
            env["AWS_LAMBDA_LOG_STREAM_NAME"] = stream
            ship = functools.partial(self.ship_logs, region, fn.function_name, fn.role, stream)
            memory = int(fn.memory_size or 128)
            quota = cpuquota.place(memory, self.aws.settings.lambda_cpu_quota)
            try:
                warm = WarmFunction(key, fn.code_bytes, env, fn.function_arn,
                                    os.path.join(log_dir, f"lambda-{fn.function_name}.log"), ship=ship,
                                    region=region, quota=quota)
            except (RuntimeError, zipfile.BadZipFile, OSError):
                quota.remove()
                return 502, b""
            finally:
                with self.lock:
                    self.starting -= 1
            warm.busy = True
            with self.lock:
                self.warm.setdefault(fn.function_name, []).append(warm)
        try:
            ok, payload = warm.invoke(event, float(fn.timeout or 3), int(fn.memory_size or 128),
                                      self.aws.settings.lambda_enforce_memory)
        finally:
            with self.lock:
                warm.busy = False
                if warm.broken and warm in self.warm.get(fn.function_name, []):
                    # A timeout, a crash or running out of memory ends the execution environment.
                    self.warm[fn.function_name].remove(warm)
        if warm.broken:
            warm.stop()
        return (200 if ok else 502), payload

    def ship_logs(self, region: str, function_name: str, role_arn: str, stream: str, events: list) -> None:
        """Delivers log events to CloudWatch Logs the way Lambda does: as the function's execution
        role, into `/aws/lambda/{function}`. The group is created if missing and the role may
        logs:CreateLogGroup, the stream if the role may logs:CreateLogStream; the events are put if
        it may logs:PutLogEvents. Otherwise they are dropped, as Lambda drops them. Each check is
        on the ARN CloudWatch Logs authorises (`actions._logs`)."""
        from moto.logs.models import logs_backends

        from .actions import partition_of
        from .auth import allowed, role_session

        session = role_session(role_arn, function_name, region)
        if session is None:
            return
        group = f"/aws/lambda/{function_name}"
        prefix = f"arn:{partition_of(region)}:logs:{region}:{ACCOUNT_ID}:log-group:{group}:log-stream:"
        backend = logs_backends[ACCOUNT_ID][region]
        with self.log_lock:
            if group not in backend.groups:
                if not allowed(session, "logs:CreateLogGroup", prefix):
                    return
                backend.create_log_group(group, tags={})
            if stream not in backend.groups[group].streams:
                if not allowed(session, "logs:CreateLogStream", prefix + stream):
                    return
                backend.create_log_stream(group, stream)
            if not allowed(session, "logs:PutLogEvents", prefix + stream):
                return
            backend.put_log_events(group, stream, [{"timestamp": t, "message": m} for t, m in events])
