"""The local S3 Vectors' filter validator and evaluator against the case file the product's Rust
evaluator (shared::filter) also runs: the two cannot drift."""
import json
from pathlib import Path

import pytest

from localaws.s3vectors import MAX_FILTER_CONSTRAINTS, check_filter, matches

CASES = json.loads((Path(__file__).resolve().parents[2] / "shared" / "filter-cases.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=lambda c: json.dumps(c["filter"])[:60])
def test_case(case):
    try:
        check_filter(case["filter"], {"text"}, MAX_FILTER_CONSTRAINTS)
    except Exception:  # the ValidationException response
        assert case["expected"] == "invalid", case["filter"]
        return
    assert case["expected"] != "invalid", f"accepted {case['filter']}"
    assert matches(case["filter"], case["metadata"]) is case["expected"], case["filter"]
