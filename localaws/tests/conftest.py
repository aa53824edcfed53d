"""Starts one local AWS per test session on a free port (fresh state) and resets it per test."""

from dataclasses import asdict
from pathlib import Path

import pytest

from localaws.common import Settings
from localaws.launcher import Launched

HERE = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def server():
    """A localaws.launcher.Launched: `.port`, `.url`, `.state`, `.control()`, `.client()`, `.requests()`."""
    with Launched(prefix="localaws-test-") as local:
        yield local


# Every knob at the server's default (the real clock: latency, quotas, CPU share, concurrency),
# except the clock itself: ×0.1, with longer unscaled Pending/propagation windows so the states
# last long enough (0.3 s, 0.5 s) for a test to observe them.
DEFAULTS = {**{k: v for k, v in asdict(Settings()).items() if k != "enforce_iam"},
            "clock_scale": 0.1, "lambda_pending_secs": 3.0, "lambda_update_secs": 3.0, "iam_propagation_secs": 5.0}


@pytest.fixture()
def aws(server):
    server.control("reset", {})
    server.control("config", DEFAULTS)
    return server
