"""Starts one local AWS per test session on a free port (fresh state) and resets it per test."""

from pathlib import Path

import pytest

from localaws.launcher import Launched

HERE = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def server():
    """A localaws.launcher.Launched: `.port`, `.url`, `.state`, `.control()`, `.client()`, `.requests()`."""
    with Launched(prefix="localaws-test-") as local:
        yield local


DEFAULTS = {"clock_scale": 0.1, "lambda_pending_secs": 3.0, "lambda_update_secs": 3.0,
            "iam_propagation_secs": 5.0, "apigw_quotas": True, "latency_ms": 0.0,
            "apigw_integration_timeout_secs": 29.0, "lambda_enforce_memory": True, "lambda_concurrency": 10,
            "s3vectors_default_index_mode": "ENHANCED", "s3vectors_query_token_secs": 300.0,
            "s3vectors_write_requests_per_sec": 1000, "s3vectors_write_vectors_per_sec": 2500}


@pytest.fixture()
def aws(server):
    server.control("reset", {})
    server.control("config", DEFAULTS)
    return server
