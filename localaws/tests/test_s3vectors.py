"""S3 Vectors behaviours moto lacks."""

import math

import pytest
from botocore.exceptions import ClientError


def code(err):
    return err.value.response["Error"]["Code"]


@pytest.fixture()
def s3v(aws):
    c = aws.client("s3vectors")
    c.create_vector_bucket(vectorBucketName="bucket-one")
    c.create_index(vectorBucketName="bucket-one", indexName="idx", dataType="float32", dimension=3,
                   distanceMetric="cosine", metadataConfiguration={"nonFilterableMetadataKeys": ["text"]})
    return c


def put(c, *vectors, index="idx"):
    c.put_vectors(vectorBucketName="bucket-one", indexName=index,
                  vectors=[{"key": k, "data": {"float32": d}, "metadata": m} for k, d, m in vectors])


def query(c, vec, k=10, flt=None, **kw):
    args = dict(vectorBucketName="bucket-one", indexName="idx", topK=k, queryVector={"float32": vec}, **kw)
    if flt is not None:
        args["filter"] = flt
    return c.query_vectors(**args)["vectors"]


def test_query_ranks_by_cosine_distance(s3v):
    put(s3v, ("a", [1, 0, 0], {"n": 1}), ("b", [0.7, 0.7, 0], {"n": 2}), ("c", [0, 0, 1], {"n": 3}))
    out = query(s3v, [1, 0, 0], returnDistance=True, returnMetadata=True)
    assert [v["key"] for v in out] == ["a", "b", "c"]
    assert out[0]["distance"] == pytest.approx(0.0, abs=1e-6)
    assert out[1]["distance"] == pytest.approx(1 - 0.7 / math.sqrt(0.98), abs=1e-6)
    assert out[2]["metadata"] == {"n": 3}
    bare = query(s3v, [1, 0, 0], k=1)
    assert bare == [{"key": "a"}]


def test_euclidean_index(s3v):
    s3v.create_index(vectorBucketName="bucket-one", indexName="euc", dataType="float32", dimension=2, distanceMetric="euclidean")
    put(s3v, ("far", [10, 0], {}), ("near", [1, 1], {}), index="euc")
    out = s3v.query_vectors(vectorBucketName="bucket-one", indexName="euc", topK=2, queryVector={"float32": [0, 0]},
                            returnDistance=True)["vectors"]
    assert [v["key"] for v in out] == ["near", "far"]
    assert out[0]["distance"] == pytest.approx(math.sqrt(2), abs=1e-6)


def test_topk_bounds(s3v, aws):
    raw = aws.client("s3vectors", validate=False)
    for k in (0, 10_001):
        with pytest.raises(ClientError) as e:
            query(raw, [1, 0, 0], k=k)
        assert code(e) == "ValidationException"
    # Since June 2026 topK may be up to 10,000 (answered in pages).
    assert query(s3v, [1, 0, 0], k=10_000) == []


def test_filters(s3v):
    put(s3v,
        ("t", [1, 0, 0], {"ticker": "TSLA", "year": 2024, "tags": ["ev", "auto"], "text": "x"}),
        ("a", [1, 0, 0], {"ticker": "AMZN", "year": 2023, "tags": ["cloud"]}),
        ("n", [1, 0, 0], {"ticker": "NVDA", "year": 2025}))
    cases = [
        ({"ticker": "TSLA"}, {"t"}),
        ({"ticker": {"$eq": "AMZN"}}, {"a"}),
        ({"ticker": {"$ne": "AMZN"}}, {"t", "n"}),
        ({"year": {"$gt": 2023}}, {"t", "n"}),
        ({"year": {"$gte": 2024}}, {"t", "n"}),
        ({"year": {"$lt": 2024}}, {"a"}),
        ({"year": {"$lte": 2024}}, {"t", "a"}),
        ({"ticker": {"$in": ["TSLA", "NVDA"]}}, {"t", "n"}),
        ({"ticker": {"$nin": ["TSLA", "NVDA"]}}, {"a"}),
        ({"tags": {"$exists": True}}, {"t", "a"}),
        ({"tags": {"$exists": False}}, {"n"}),
        ({"tags": "ev"}, {"t"}),
        ({"$and": [{"year": {"$gte": 2024}}, {"ticker": "NVDA"}]}, {"n"}),
        ({"$or": [{"ticker": "AMZN"}, {"year": 2025}]}, {"a", "n"}),
    ]
    for flt, expected in cases:
        assert {v["key"] for v in query(s3v, [1, 0, 0], flt=flt)} == expected, flt


def test_filter_on_non_filterable_key_or_bad_operator_is_rejected(s3v):
    put(s3v, ("t", [1, 0, 0], {"text": "hello"}))
    for flt in ({"text": "hello"}, {"$and": [{"text": {"$eq": "x"}}]}, {"a": {"$regex": "x"}}, {"$or": []},
                {"n": {"$gt": "x"}}):
        with pytest.raises(ClientError) as e:
            query(s3v, [1, 0, 0], flt=flt)
        assert code(e) == "ValidationException", flt


def test_index_metadata_configuration_is_stored(s3v):
    idx = s3v.get_index(vectorBucketName="bucket-one", indexName="idx")["index"]
    assert idx["metadataConfiguration"] == {"nonFilterableMetadataKeys": ["text"]}


def test_duplicate_create_index_conflicts_and_keeps_vectors(s3v):
    put(s3v, ("keep", [1, 0, 0], {}))
    with pytest.raises(ClientError) as e:
        s3v.create_index(vectorBucketName="bucket-one", indexName="idx", dataType="float32", dimension=3,
                         distanceMetric="cosine")
    assert code(e) == "ConflictException"
    assert [v["key"] for v in query(s3v, [1, 0, 0])] == ["keep"]


def test_put_vectors_limits(s3v):
    def rejected(*vectors, n=None):
        with pytest.raises(ClientError) as e:
            put(s3v, *vectors)
        assert code(e) == "ValidationException"
        return e.value.response["Error"]["Message"]

    assert "length" in rejected(("k", [1, 0], {}))
    rejected(("k", [1, 0, float("nan")], {}))
    rejected(("k", [1, 0, float("inf")], {}))
    assert "Filterable" in rejected(("k", [1, 0, 0], {"big": "x" * 2100}))
    assert "Total" in rejected(("k", [1, 0, 0], {"text": "x" * (41 * 1024)}))
    assert "50 keys" in rejected(("k", [1, 0, 0], {f"k{i}": i for i in range(51)}))
    with pytest.raises(ClientError) as e:
        put(s3v, *[(f"v{i}", [1, 0, 0], {}) for i in range(501)])
    assert code(e) == "ValidationException"
    # Non-filterable text may be long; 500 vectors in one call are fine.
    put(s3v, ("ok", [1, 0, 0], {"text": "x" * 30000}))
    put(s3v, *[(f"v{i}", [1, 0, 0], {}) for i in range(500)])
    assert not any(v["key"] == "k" for v in query(s3v, [1, 0, 0], k=100))


def test_list_vectors_paginates(s3v):
    put(s3v, *[(f"v{i}", [1, 0, 0], {"i": i}) for i in range(25)])
    keys, token = [], None
    while True:
        args = dict(vectorBucketName="bucket-one", indexName="idx", maxResults=10)
        if token:
            args["nextToken"] = token
        page = s3v.list_vectors(**args)
        assert len(page["vectors"]) <= 10
        keys += [v["key"] for v in page["vectors"]]
        token = page.get("nextToken")
        if not token:
            break
    assert sorted(keys) == sorted(f"v{i}" for i in range(25))


# ---- limits moto lacks ------------------------------------------------------------------------

def test_get_and_delete_take_at_most_100_and_500_keys(s3v):
    put(s3v, ("a", [1, 0, 0], {}))
    keys = [f"k{i}" for i in range(101)]
    with pytest.raises(ClientError) as e:
        s3v.get_vectors(vectorBucketName="bucket-one", indexName="idx", keys=keys)
    assert code(e) == "ValidationException" and "between 1 and 100" in str(e.value)
    assert len(s3v.get_vectors(vectorBucketName="bucket-one", indexName="idx", keys=["a"] + keys[:99])["vectors"]) == 1
    with pytest.raises(ClientError) as e:
        s3v.delete_vectors(vectorBucketName="bucket-one", indexName="idx", keys=[f"k{i}" for i in range(501)])
    assert code(e) == "ValidationException" and "between 1 and 500" in str(e.value)
    s3v.delete_vectors(vectorBucketName="bucket-one", indexName="idx", keys=["a"] + [f"k{i}" for i in range(499)])
    assert s3v.get_vectors(vectorBucketName="bucket-one", indexName="idx", keys=["a"])["vectors"] == []


def test_cosine_refuses_a_zero_vector_and_keys_are_bounded(s3v):
    with pytest.raises(ClientError) as e:
        put(s3v, ("z", [0, 0, 0], {}))
    assert code(e) == "ValidationException" and "zero vector" in str(e.value)
    with pytest.raises(ClientError) as e:
        put(s3v, ("k" * 1025, [1, 0, 0], {}))
    assert code(e) == "ValidationException"
    put(s3v, ("k" * 1024, [1, 0, 0], {}))
    s3v.create_index(vectorBucketName="bucket-one", indexName="euclid", dataType="float32", dimension=3,
                     distanceMetric="euclidean")
    put(s3v, ("z", [0, 0, 0], {}), index="euclid")


@pytest.mark.parametrize("name", ["ab", "My-bucket", "my_bucket", "-bucket", "bucket-", "a" * 64])
def test_bucket_names_follow_the_naming_rules(aws, name):
    c = aws.client("s3vectors", validate=False)
    with pytest.raises(ClientError) as e:
        c.create_vector_bucket(vectorBucketName=name)
    assert code(e) == "ValidationException"


@pytest.mark.parametrize("name", ["Index", "idx_1", ".idx", "idx."])
def test_index_names_follow_the_naming_rules(aws, s3v, name):
    with pytest.raises(ClientError) as e:
        aws.client("s3vectors", validate=False).create_index(vectorBucketName="bucket-one", indexName=name, dataType="float32", dimension=3,
                         distanceMetric="cosine")
    assert code(e) == "ValidationException"
    s3v.create_index(vectorBucketName="bucket-one", indexName="v2.idx-1", dataType="float32", dimension=3,
                     distanceMetric="cosine")


def test_writes_beyond_the_index_quota_are_throttled(aws, s3v):
    aws.control("config", {"s3vectors_write_requests_per_sec": 3, "s3vectors_write_vectors_per_sec": 5})
    put(s3v, ("a", [1, 0, 0], {}), ("b", [0, 1, 0], {}))
    s3v.delete_vectors(vectorBucketName="bucket-one", indexName="idx", keys=["x", "y"])
    # 4 vectors and 2 requests in this second: one more vector passes, two do not.
    with pytest.raises(ClientError) as e:
        put(s3v, ("c", [0, 0, 1], {}), ("d", [1, 1, 0], {}))
    assert code(e) == "TooManyRequestsException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    put(s3v, ("c", [0, 0, 1], {}))
    with pytest.raises(ClientError) as e:
        s3v.delete_vectors(vectorBucketName="bucket-one", indexName="idx", keys=["a"])
    assert code(e) == "TooManyRequestsException"
    # Reads are not writes; a second later the quota is back.
    assert len(s3v.get_vectors(vectorBucketName="bucket-one", indexName="idx", keys=["a", "b", "c"])["vectors"]) == 3
    import time
    time.sleep(1.05)
    s3v.delete_vectors(vectorBucketName="bucket-one", indexName="idx", keys=["a"])
