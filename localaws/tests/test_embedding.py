"""SageMaker InvokeEndpoint served by the real all-MiniLM-L6-v2."""

import json

import numpy as np
import pytest
from botocore.exceptions import ClientError

# Token ids and the first six dimensions of the sentence-transformers embeddings
# (mean pooling + L2 normalisation) of all-MiniLM-L6-v2, as pinned by a public test suite that
# checks an independent implementation against SentenceTransformers' own output.
REFERENCE = [
    ("This is an example sentence", [101, 2023, 2003, 2019, 2742, 6251, 102],
     [0.06765693, 0.06349593, 0.04871314, 0.07930495, 0.03744806, 0.00265273]),
    ("Each sentence is converted.", [101, 2169, 6251, 2003, 4991, 1012, 102],
     [0.07853645, 0.08856265, -0.00209270, -0.00717247, -0.01252624, 0.01881747]),
    ("", [101, 102], [-0.11883835, 0.04829856, -0.00254805, -0.01101118, 0.05195070, 0.01029179]),
    ("Café déjà vu — 東京", [101, 7668, 2139, 3900, 24728, 1517, 1879, 1755, 102],
     [0.05083271, 0.00967685, 0.09635572, -0.00997369, -0.01987603, 0.01692343]),
]


def invoke(aws, payload, endpoint="alex-embedding-endpoint"):
    c = aws.client("sagemaker-runtime")
    out = c.invoke_endpoint(EndpointName=endpoint, ContentType="application/json", Body=json.dumps(payload))
    return json.loads(out["Body"].read())


def pooled(token_states):
    v = np.asarray(token_states, dtype=np.float64).mean(0)
    return v / np.linalg.norm(v)


def test_single_input_is_token_level(aws):
    out = invoke(aws, {"inputs": "This is an example sentence"})
    arr = np.asarray(out)
    assert arr.shape == (1, 7, 384)


def test_list_input_is_batched_token_level_with_per_input_lengths(aws):
    out = invoke(aws, {"inputs": [r[0] for r in REFERENCE], "parameters": {"truncation": True}})
    assert len(out) == 4
    for item, (_, ids, _) in zip(out, REFERENCE):
        assert len(item) == 1 and len(item[0]) == len(ids) and len(item[0][0]) == 384


def test_matches_sentence_transformers_reference(aws):
    out = invoke(aws, {"inputs": [r[0] for r in REFERENCE]})
    for item, (text, _, prefix) in zip(out, REFERENCE):
        v = pooled(item[0])
        assert np.abs(v[:6] - np.asarray(prefix)).max() < 1e-5, text
        # cosine with the reference direction restricted to the pinned components
        ref = np.asarray(prefix)
        assert float(v[:6] @ ref / (np.linalg.norm(v[:6]) * np.linalg.norm(ref))) >= 0.9999


def test_semantics_rank_the_right_company(aws):
    texts = ["electric vehicles and sustainable transportation", "Tesla builds electric cars and batteries",
             "Amazon Web Services sells cloud computing"]
    out = invoke(aws, {"inputs": texts})
    q, tesla, amazon = (pooled(o[0]) for o in out)
    assert q @ tesla > q @ amazon + 0.2


def test_over_512_tokens_fails_without_truncation(aws):
    long = "word " * 600
    with pytest.raises(ClientError) as e:
        invoke(aws, {"inputs": [long]})
    assert e.value.response["Error"]["Code"] == "ModelError"
    out = invoke(aws, {"inputs": [long], "parameters": {"truncation": True}})
    assert len(out[0][0]) == 512


def test_unknown_endpoint_is_validation_error(aws):
    with pytest.raises(ClientError) as e:
        invoke(aws, {"inputs": "x"}, endpoint="nope")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert e.value.response["Error"]["Message"] == "Endpoint nope of account 123456789012 not found."


def test_registered_endpoints_are_served(aws):
    aws.control("endpoints", {"name": "other-endpoint"})
    assert np.asarray(invoke(aws, {"inputs": "x"}, endpoint="other-endpoint")).shape[2] == 384


def test_an_endpoint_of_another_dimension_stands_for_another_model(aws):
    aws.control("endpoints", {"name": "small-endpoint", "dimension": 256, "task": "tei"})
    texts = ["electric vehicles and sustainable transportation", "Tesla builds electric cars and batteries",
             "Amazon Web Services sells cloud computing"]
    small = np.asarray(invoke(aws, {"inputs": texts}, endpoint="small-endpoint"))
    assert small.shape == (3, 256)
    # The call log names the endpoint each call went to.
    assert [c["inputs"] for c in aws.requests() if c.get("endpoint") == "small-endpoint"] == [3]
    assert np.allclose(np.linalg.norm(small, axis=1), 1.0, atol=1e-5)
    # Its own vectors keep their meaning...
    q, tesla, amazon = small
    assert q @ tesla > q @ amazon + 0.1
    # ...and are the same on every call, but are not MiniLM's (not even its first 256 numbers).
    again = np.asarray(invoke(aws, {"inputs": texts}, endpoint="small-endpoint"))
    assert np.array_equal(small, again)
    full = np.asarray([pooled(o[0]) for o in invoke(aws, {"inputs": texts})])
    assert np.abs(small - full[:, :256]).max() > 0.1
    # The token-level task answers at the same width.
    aws.control("endpoints", {"name": "small-endpoint", "task": "feature-extraction"})
    assert np.asarray(invoke(aws, {"inputs": "x"}, endpoint="small-endpoint")).shape == (1, 3, 256)
    for bad in (0, 385, "256", True):
        with pytest.raises(Exception):
            aws.control("endpoints", {"name": "small-endpoint", "dimension": bad})
