"""Starts one local AWS per test session on a free port (fresh state) and resets it per test."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

HERE = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Local:
    def __init__(self, port: int):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def control(self, name, data=None, method=None):
        body = json.dumps(data).encode() if data is not None else None
        req = urllib.request.Request(f"{self.url}/_localaws/{name}", data=body,
                                     method=method or ("POST" if body is not None else "GET"))
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    def client(self, service, retries=0, validate=True):
        return boto3.client(
            service, endpoint_url=self.url, region_name="us-east-1",
            aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="secret",
            config=Config(retries={"total_max_attempts": retries + 1, "mode": "standard"}, parameter_validation=validate),
        )

    def requests(self):
        return self.control("requests")["requests"]


@pytest.fixture(scope="session")
def server():
    port = _free_port()
    state = tempfile.mkdtemp(prefix="localaws-test-")
    env = dict(os.environ, PYTHONPATH=str(HERE), LOCALAWS_STATE_DIR=state)
    proc = subprocess.Popen([sys.executable, "-m", "localaws.server", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(state, "server.log"), "w"))
    local = Local(port)
    local.state = state
    for _ in range(100):
        try:
            local.control("health")
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("local AWS did not start")
    yield local
    proc.terminate()
    proc.wait(10)


DEFAULTS = {"clock_scale": 0.1, "lambda_pending_secs": 3.0, "lambda_update_secs": 3.0,
            "iam_propagation_secs": 5.0, "apigw_quotas": True, "latency_ms": 0.0,
            "apigw_integration_timeout_secs": 29.0, "lambda_enforce_memory": True}


@pytest.fixture()
def aws(server):
    server.control("reset", {})
    server.control("config", DEFAULTS)
    return server
