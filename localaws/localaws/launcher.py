"""The one way to start a private local AWS: on a free loopback port, with a fresh state directory,
its output in a log there, ready (health answered) before it is handed over, stopped for sure.

    from localaws.launcher import Launched

    with Launched("--enforce-iam") as aws:      # any `python -m localaws.server` flags
        aws.control("config", {"latency_ms": 5})
        aws.client("s3vectors").list_vector_buckets()

From a shell (for programs that are not Python):

    python -m localaws.launcher wait --port N [--pid P] [--log FILE]   # until /_localaws/health answers
    python -m localaws.launcher run [-- server flags]   # starts one, prints {"port", "url", "state",
        # "pid"} as a JSON line; stops it on SIGTERM/SIGINT/SIGHUP, or when stdin is a pipe and closes

A server that exits, or does not answer within the timeout, raises `LaunchError` with the tail of
its log. `localaws/ctl start` is the long-running daemon; it shares `wait` with this module.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"
# The directory that holds the `localaws` package (what PYTHONPATH must name).
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
# Seconds a new server has to bind and answer (a loaded machine may need LOCALAWS_START_TIMEOUT=30).
START_TIMEOUT = float(os.environ.get("LOCALAWS_START_TIMEOUT") or 10.0)
STOP_TIMEOUT = 10.0
# Keys for clients of a server that does not enforce IAM (any signature is accepted).
EXAMPLE_KEYS = ("AKIAIOSFODNN7EXAMPLE", "secret")


class LaunchError(RuntimeError):
    """The local AWS did not start (it exited, or did not answer in time); the message ends with its log."""


def free_port() -> int:
    """A loopback port nothing listens on right now (for tests that need one nothing answers on)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def log_tail(path, lines: int = 30) -> str:
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError as e:
        return f"(no log: {e})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(the log is empty)"


def control(url: str, name: str, data=None, method: str | None = None, timeout: float | None = None):
    """Calls `/_localaws/<name>` (GET, or POST with a JSON body); returns the decoded JSON answer.
    A non-2xx answer raises urllib.error.HTTPError."""
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(f"{url}/_localaws/{name}", data=body,
                                 method=method or ("POST" if body is not None else "GET"))
    if body is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def healthy(port: int, timeout: float = 1.0) -> bool:
    try:
        control(f"http://{HOST}:{port}", "health", timeout=timeout)
        return True
    except (OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def wait_healthy(port: int, timeout: float = START_TIMEOUT, pid: int | None = None, log=None,
                 proc: subprocess.Popen | None = None) -> None:
    """Returns once the local AWS on `port` answers its health check; raises LaunchError (with the
    log's tail when `log` is given) if process `proc` or `pid` exits first or `timeout` seconds pass."""
    if proc is not None:
        pid = proc.pid
    deadline = time.monotonic() + timeout

    def exited() -> bool:
        if proc is not None:
            return proc.poll() is not None
        return pid is not None and not _alive(pid)

    while True:
        if exited():
            raise LaunchError(_failure(f"the local AWS (pid {pid}) exited before answering on port {port}", log))
        if healthy(port):
            if exited():  # something else answers on that port
                raise LaunchError(_failure(f"the local AWS (pid {pid}) exited; another server answers on port {port}", log))
            return
        if time.monotonic() > deadline:
            raise LaunchError(_failure(f"the local AWS did not answer on port {port} within {timeout:g} s", log))
        time.sleep(0.05)


def _failure(what: str, log) -> str:
    return f"{what}\n--- last lines of {log} ---\n{log_tail(log)}" if log else what


class Launched:
    """A private local AWS: `python -m localaws.server --port 0 --port-file ... *args` with
    LOCALAWS_STATE_DIR set to a fresh directory (`.state`), stdout and stderr in `.log_path`.
    Ready when the constructor returns; `.stop()` (or leaving the `with` block) ends it and, unless
    it was given a `state` or LOCALAWS_KEEP_STATE is set, removes the state directory."""

    def __init__(self, *args: str, state: str | None = None, python: str | None = None, env: dict | None = None,
                 timeout: float = START_TIMEOUT, prefix: str = "localaws-", keep_state: bool | None = None):
        self.args = tuple(args)
        self._owns_state = state is None
        self.state = state or tempfile.mkdtemp(prefix=prefix)
        os.makedirs(self.state, exist_ok=True)
        self.keep_state = keep_state if keep_state is not None else (
            not self._owns_state or bool(os.environ.get("LOCALAWS_KEEP_STATE")))
        self.log_path = os.path.join(self.state, "server.log")
        port_file = os.path.join(self.state, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), full_env.get("PYTHONPATH")) if p)
        full_env["LOCALAWS_STATE_DIR"] = self.state
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [python or sys.executable, "-m", "localaws.server", "--port", "0", "--port-file", port_file, *self.args],
            env=full_env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self.port = 0
        self.url = ""
        self._stopped = False
        atexit.register(self.stop)
        try:
            deadline = time.monotonic() + timeout
            self.port = self._read_port(port_file, deadline)
            self.url = f"http://{HOST}:{self.port}"
            wait_healthy(self.port, max(deadline - time.monotonic(), 0.5), log=self.log_path, proc=self.proc)
        except BaseException:
            self.stop(keep_state=True)
            raise

    def _read_port(self, port_file: str, deadline: float) -> int:
        while True:
            try:
                with open(port_file) as f:
                    text = f.read().strip()
                if text:
                    return int(text)
            except (OSError, ValueError):
                pass
            if self.proc.poll() is not None:
                raise LaunchError(_failure(f"the local AWS exited (code {self.proc.returncode}) before binding a port",
                                           self.log_path))
            if time.monotonic() > deadline:
                raise LaunchError(_failure("the local AWS did not bind a port in time", self.log_path))
            time.sleep(0.02)

    # ---- talking to it ----------------------------------------------------------------------

    def control(self, name: str, data=None, method: str | None = None, timeout: float | None = None):
        """`/_localaws/<name>`: GET, or POST with `data` as JSON; `method` overrides (e.g. DELETE)."""
        return control(self.url, name, data, method, timeout)

    def requests(self) -> list:
        """The request log (`/_localaws/requests`)."""
        return self.control("requests")["requests"]

    def credentials(self) -> tuple[str, str]:
        """The administrator's access key pair (what `--enforce-iam` accepts for everything)."""
        c = self.control("credentials")
        return c["AccessKeyId"], c["SecretAccessKey"]

    def client(self, service: str, retries: int = 0, validate: bool = True, key: str | None = None,
               secret: str | None = None, token: str | None = None, admin: bool = False):
        """A boto3 client pinned to this instance (example keys; `admin=True` for the admin's keys)."""
        import boto3
        from botocore.config import Config

        if admin:
            key, secret = self.credentials()
        elif key is None:
            key, secret = EXAMPLE_KEYS
        return boto3.client(
            service, endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=key,
            aws_secret_access_key=secret, aws_session_token=token,
            config=Config(retries={"total_max_attempts": retries + 1, "mode": "standard"}, parameter_validation=validate),
        )

    def aws_env(self, base: dict | None = None) -> dict:
        """An environment for a child process (e.g. the deployer) pinned to this instance: every
        AWS_* variable of `base` (default os.environ) removed, no config/credentials file, no
        instance metadata, the loopback endpoint and the admin's keys (as `localaws/ctl env`)."""
        env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("AWS_")}
        key, secret = self.credentials()
        env.update(AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_EC2_METADATA_DISABLED="true",
                   AWS_ENDPOINT_URL=self.url, AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
                   AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
        return env

    # ---- stopping it ------------------------------------------------------------------------

    def stop(self, keep_state: bool | None = None) -> int | None:
        """Terminates the server (SIGTERM, then SIGKILL after 10 s); idempotent. Returns its exit code."""
        if self._stopped:
            return self.proc.returncode
        self._stopped = True
        atexit.unregister(self.stop)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        if not (self.keep_state if keep_state is None else keep_state) and self._owns_state:
            shutil.rmtree(self.state, ignore_errors=True)
        return self.proc.returncode

    def __enter__(self) -> "Launched":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<local AWS {self.url or '(starting)'} pid {self.pid} state {self.state}>"


# ---- command line -------------------------------------------------------------------------------

def _run(server_args: list[str], timeout: float) -> int:
    with Launched(*server_args, timeout=timeout) as aws:
        print(json.dumps({"port": aws.port, "url": aws.url, "state": aws.state, "pid": aws.pid}), flush=True)
        done = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: done.set())

        def stdin_closed():
            try:
                while os.read(0, 4096):
                    pass
            except OSError:
                pass
            done.set()

        # A parent that holds our stdin as a pipe (or socket) stops us by closing it, or by dying.
        try:
            watch_stdin = stat.S_ISFIFO(os.fstat(0).st_mode) or stat.S_ISSOCK(os.fstat(0).st_mode)
        except OSError:
            watch_stdin = False
        if watch_stdin:
            threading.Thread(target=stdin_closed, daemon=True).start()
        while not done.wait(0.2):
            if aws.proc.poll() is not None:
                print(_failure(f"the local AWS exited (code {aws.proc.returncode})", aws.log_path), file=sys.stderr)
                aws.stop(keep_state=True)
                return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localaws.launcher", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("wait", help="wait until the local AWS on --port answers its health check")
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--pid", type=int, help="fail as soon as this process has exited")
    w.add_argument("--log", help="print this log's tail on failure")
    w.add_argument("--timeout", type=float, default=20.0)
    r = sub.add_parser("run", help="start a private one, print its port as JSON; stop it on SIGTERM, or at EOF of a piped stdin")
    r.add_argument("--timeout", type=float, default=START_TIMEOUT)
    r.add_argument("server_args", nargs=argparse.REMAINDER, help="flags for localaws.server (after --)")
    args = parser.parse_args(argv)
    try:
        if args.command == "wait":
            wait_healthy(args.port, args.timeout, pid=args.pid, log=args.log)
            return 0
        server_args = args.server_args[1:] if args.server_args[:1] == ["--"] else args.server_args
        return _run(server_args, args.timeout)
    except LaunchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
