"""S3 Vectors as of late 2026: QueryVectors pages and tokens, index modes (CLASSIC / ENHANCED),
`$startsWith`, ListVectors pagination and segments, bucket and index encryption, tags at creation,
and the IAM mapping of the new operations."""

import json
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localaws.launcher import Launched

BUCKET = "bucket-2026"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def code(e):
    return e.value.response["Error"]["Code"]


def message(e):
    return e.value.response["Error"]["Message"]


def rejected(call, *args, **kwargs):
    """The ValidationException message of a call that must fail validation."""
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    assert code(e) == "ValidationException", e.value.response
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return message(e)


@pytest.fixture()
def s3v(aws):
    c = aws.client("s3vectors")
    c.create_vector_bucket(vectorBucketName=BUCKET)
    c.create_index(vectorBucketName=BUCKET, indexName="idx", dataType="float32", dimension=2, distanceMetric="euclidean")
    return c


def put(c, vectors, index="idx"):
    for i in range(0, len(vectors), 500):
        c.put_vectors(vectorBucketName=BUCKET, indexName=index, vectors=vectors[i:i + 500])


def line(n, index="idx", meta=lambda i: {}):
    """n vectors at x = 1..n on a line: distance to the origin is the rank."""
    return [{"key": f"k{i:04d}", "data": {"float32": [float(i + 1), 0.0]}, "metadata": meta(i)} for i in range(n)]


def q(c, k, index="idx", vec=(0.0, 0.0), **kw):
    return c.query_vectors(vectorBucketName=BUCKET, indexName=index, topK=k, queryVector={"float32": list(vec)}, **kw)


# ---- QueryVectors pages --------------------------------------------------------------------------

def test_query_results_come_in_pages_of_100_with_next_token(s3v):
    put(s3v, line(250))
    first = q(s3v, 1000, returnDistance=True)
    assert len(first["vectors"]) == 100 and first["nextToken"]
    assert first["distanceMetric"] == "euclidean"
    second = q(s3v, 1000, nextToken=first["nextToken"], returnDistance=True)
    third = q(s3v, 1000, nextToken=second["nextToken"], returnDistance=True)
    assert len(second["vectors"]) == 100 and len(third["vectors"]) == 50 and "nextToken" not in third
    keys = [v["key"] for page in (first, second, third) for v in page["vectors"]]
    assert keys == [f"k{i:04d}" for i in range(250)]
    assert third["vectors"][-1]["distance"] == pytest.approx(250.0)
    # topK bounds the results across pages; a result count that ends on a page boundary has no token.
    assert "nextToken" not in q(s3v, 100)
    page = q(s3v, 150)
    assert len(page["vectors"]) == 100
    assert [v["key"] for v in q(s3v, 150, nextToken=page["nextToken"])["vectors"]] == [f"k{i:04d}" for i in range(100, 150)]


def test_sdk_paginator_walks_the_pages(s3v):
    put(s3v, line(230, meta=lambda i: {"even": i % 2 == 0}))
    pages = list(s3v.get_paginator("query_vectors").paginate(
        vectorBucketName=BUCKET, indexName="idx", topK=10_000, queryVector={"float32": [0.0, 0.0]},
        filter={"even": True}, returnMetadata=True))
    assert [len(p["vectors"]) for p in pages] == [100, 15]
    assert all(v["metadata"] == {"even": True} for p in pages for v in p["vectors"])


def test_a_token_is_reusable_and_needs_the_same_query(s3v, aws):
    put(s3v, line(120, meta=lambda i: {"n": i}))
    base = dict(vectorBucketName=BUCKET, indexName="idx", topK=200, queryVector={"float32": [0.0, 0.0]},
                filter={"n": {"$gte": 0}})
    token = s3v.query_vectors(**base)["nextToken"]
    # The same page again (an SDK retry resends the token).
    again = [s3v.query_vectors(**base, nextToken=token)["vectors"] for _ in range(2)]
    assert again[0] == again[1] and len(again[0]) == 20
    changed = [dict(queryVector={"float32": [0.0, 1.0]}), dict(topK=150), dict(filter={"n": {"$gte": 1}}),
               dict(queryMode="ENHANCED")]
    for change in changed:
        msg = rejected(s3v.query_vectors, **{**base, **change}, nextToken=token)
        assert "same queryVector, topK, filter and queryMode" in msg, change
    assert "not valid" in rejected(s3v.query_vectors, **base, nextToken="bogus-token")
    s3v.create_index(vectorBucketName=BUCKET, indexName="other", dataType="float32", dimension=2,
                     distanceMetric="euclidean")
    assert "different vector index" in rejected(s3v.query_vectors, **{**base, "indexName": "other"}, nextToken=token)
    # Returning more or less per item is allowed on later pages.
    assert "metadata" in s3v.query_vectors(**base, nextToken=token, returnMetadata=True)["vectors"][0]


def test_a_token_expires(s3v, aws):
    put(s3v, line(150))
    aws.control("config", {"s3vectors_query_token_secs": 2.0})  # x clock_scale 0.1 = 0.2 s
    token = q(s3v, 150)["nextToken"]
    assert len(q(s3v, 150, nextToken=token)["vectors"]) == 50
    time.sleep(0.3)
    assert "expired" in rejected(q, s3v, 150, nextToken=token)
    # A new query starts a new session.
    assert len(q(s3v, 150, nextToken=q(s3v, 150)["nextToken"])["vectors"]) == 50


def test_top_k_limits(s3v, aws):
    raw = aws.client("s3vectors", validate=False)
    put(s3v, line(3))
    for k in (0, -1, 10_001):
        assert "/topK" in rejected(q, raw, k)
    assert len(q(s3v, 10_000)["vectors"]) == 3


# ---- index modes -------------------------------------------------------------------------------

def test_new_buckets_and_indexes_are_enhanced(s3v):
    bucket = s3v.get_vector_bucket(vectorBucketName=BUCKET)["vectorBucket"]
    assert bucket["defaultIndexMode"] == "ENHANCED"
    assert bucket["encryptionConfiguration"] == {"sseType": "AES256"}
    assert abs(bucket["creationTime"].timestamp() - time.time()) < 60
    index = s3v.get_index(vectorBucketName=BUCKET, indexName="idx")["index"]
    assert index["indexMode"] == "ENHANCED"
    assert abs(index["creationTime"].timestamp() - time.time()) < 60
    assert all("creationTime" in i for i in s3v.list_indexes(vectorBucketName=BUCKET)["indexes"])
    assert all("creationTime" in b for b in s3v.list_vector_buckets()["vectorBuckets"])
    # CLASSIC is only for buckets created before 2026-09-30.
    assert "CLASSIC" in rejected(s3v.update_index_mode, vectorBucketName=BUCKET, indexName="idx", indexMode="CLASSIC")
    assert "CLASSIC" in rejected(s3v.put_vector_bucket_default_index_mode, vectorBucketName=BUCKET,
                                 defaultIndexMode="CLASSIC")
    s3v.update_index_mode(vectorBucketName=BUCKET, indexName="idx", indexMode="ENHANCED")
    s3v.put_vector_bucket_default_index_mode(vectorBucketName=BUCKET, defaultIndexMode="ENHANCED")
    assert s3v.get_index(vectorBucketName=BUCKET, indexName="idx")["index"]["indexMode"] == "ENHANCED"


def test_old_buckets_default_to_classic_and_modes_can_change(aws):
    aws.control("config", {"s3vectors_default_index_mode": "CLASSIC"})
    c = aws.client("s3vectors")
    c.create_vector_bucket(vectorBucketName="old-bucket")
    assert c.get_vector_bucket(vectorBucketName="old-bucket")["vectorBucket"]["defaultIndexMode"] == "CLASSIC"
    c.create_index(vectorBucketName="old-bucket", indexName="one", dataType="float32", dimension=2, distanceMetric="cosine")
    arn = c.get_index(vectorBucketName="old-bucket", indexName="one")["index"]["indexArn"]
    assert c.get_index(indexArn=arn)["index"]["indexMode"] == "CLASSIC"
    c.update_index_mode(indexArn=arn, indexMode="ENHANCED")
    assert c.get_index(indexArn=arn)["index"]["indexMode"] == "ENHANCED"
    c.update_index_mode(vectorBucketName="old-bucket", indexName="one", indexMode="CLASSIC")
    assert c.get_index(indexArn=arn)["index"]["indexMode"] == "CLASSIC"
    # The bucket default applies to indexes created afterwards only.
    bucket_arn = c.get_vector_bucket(vectorBucketName="old-bucket")["vectorBucket"]["vectorBucketArn"]
    c.put_vector_bucket_default_index_mode(vectorBucketArn=bucket_arn, defaultIndexMode="ENHANCED")
    c.create_index(vectorBucketName="old-bucket", indexName="two", dataType="float32", dimension=2, distanceMetric="cosine")
    assert c.get_index(vectorBucketName="old-bucket", indexName="two")["index"]["indexMode"] == "ENHANCED"
    assert c.get_index(indexArn=arn)["index"]["indexMode"] == "CLASSIC"
    c.put_vector_bucket_default_index_mode(vectorBucketName="old-bucket", defaultIndexMode="CLASSIC")
    # The knob only changes buckets created after it is set.
    aws.control("config", {"s3vectors_default_index_mode": "ENHANCED"})
    assert c.get_vector_bucket(vectorBucketName="old-bucket")["vectorBucket"]["defaultIndexMode"] == "CLASSIC"
    c.create_vector_bucket(vectorBucketName="new-bucket")
    assert c.get_vector_bucket(vectorBucketName="new-bucket")["vectorBucket"]["defaultIndexMode"] == "ENHANCED"


def test_mode_operations_validate_their_input(s3v, aws):
    raw = aws.client("s3vectors", validate=False)
    assert "enum value set: [CLASSIC, ENHANCED]" in rejected(
        raw.update_index_mode, vectorBucketName=BUCKET, indexName="idx", indexMode="FAST")
    assert "must not be null" in rejected(raw.update_index_mode, vectorBucketName=BUCKET, indexName="idx")
    assert "enum value set" in rejected(raw.put_vector_bucket_default_index_mode, vectorBucketName=BUCKET,
                                        defaultIndexMode="classic")
    assert "queryMode" in rejected(q, raw, 1, queryMode="FAST")
    with pytest.raises(ClientError) as e:
        s3v.update_index_mode(vectorBucketName=BUCKET, indexName="nope", indexMode="ENHANCED")
    assert code(e) == "NotFoundException"
    with pytest.raises(ClientError) as e:
        s3v.put_vector_bucket_default_index_mode(vectorBucketName="no-such-bucket", defaultIndexMode="ENHANCED")
    assert code(e) == "NotFoundException"
    with pytest.raises(Exception) as bad:
        aws.control("config", {"s3vectors_default_index_mode": "FAST"})
    assert "400" in str(bad.value)


def two_clusters(c, index):
    """290 'common' vectors next to the origin and 10 'rare' ones far away."""
    vectors = [{"key": f"c{i:03d}", "data": {"float32": [1.0 + i / 1000, 0.0]}, "metadata": {"tag": "common"}}
               for i in range(290)]
    vectors += [{"key": f"r{i}", "data": {"float32": [100.0 + i, 0.0]}, "metadata": {"tag": "rare", "name": f"doc-{i}"}}
                for i in range(10)]
    put(c, vectors, index=index)


def test_classic_filters_during_the_search_and_enhanced_before_it(aws):
    aws.control("config", {"s3vectors_default_index_mode": "CLASSIC"})
    c = aws.client("s3vectors")
    c.create_vector_bucket(vectorBucketName=BUCKET)
    c.create_index(vectorBucketName=BUCKET, indexName="idx", dataType="float32", dimension=2, distanceMetric="euclidean")
    two_clusters(c, "idx")
    rare = {"tag": "rare"}
    # CLASSIC: the nearest candidates are all 'common', so the selective filter finds nothing.
    assert q(c, 10, filter=rare)["vectors"] == []
    # Without a filter, or with one most candidates pass, CLASSIC still answers topK.
    assert len(q(c, 10)["vectors"]) == 10
    assert len(q(c, 10, filter={"tag": "common"})["vectors"]) == 10
    # queryMode ENHANCED runs this one query with pre-filtering.
    assert [v["key"] for v in q(c, 10, filter=rare, queryMode="ENHANCED")["vectors"]] == [f"r{i}" for i in range(10)]
    assert q(c, 10, filter=rare, queryMode="CLASSIC")["vectors"] == []
    c.update_index_mode(vectorBucketName=BUCKET, indexName="idx", indexMode="ENHANCED")
    assert len(q(c, 10, filter=rare)["vectors"]) == 10
    # On an ENHANCED index CLASSIC may not be asked for.
    assert "CLASSIC" in rejected(q, c, 10, filter=rare, queryMode="CLASSIC")


def test_starts_with_is_enhanced_only(aws):
    aws.control("config", {"s3vectors_default_index_mode": "CLASSIC"})
    c = aws.client("s3vectors")
    c.create_vector_bucket(vectorBucketName=BUCKET)
    c.create_index(vectorBucketName=BUCKET, indexName="idx", dataType="float32", dimension=2, distanceMetric="euclidean")
    put(c, [{"key": "a", "data": {"float32": [1.0, 0.0]}, "metadata": {"path": "docs/2026/a.md", "tags": ["x", "doc-y"]}},
            {"key": "b", "data": {"float32": [2.0, 0.0]}, "metadata": {"path": "docs/2025/b.md", "n": 3}},
            {"key": "c", "data": {"float32": [3.0, 0.0]}, "metadata": {"path": "src/c.rs", "tags": ["doc"]}}])
    flt = {"path": {"$startsWith": "docs/2026"}}
    assert "$startsWith" in rejected(q, c, 10, filter=flt)
    assert "$startsWith" in rejected(q, c, 10, filter={"$or": [{"n": 3}, flt]})
    assert [v["key"] for v in q(c, 10, filter=flt, queryMode="ENHANCED")["vectors"]] == ["a"]
    c.update_index_mode(vectorBucketName=BUCKET, indexName="idx", indexMode="ENHANCED")
    cases = [({"path": {"$startsWith": "docs/"}}, ["a", "b"]),
             ({"path": {"$startsWith": "src/"}}, ["c"]),
             ({"tags": {"$startsWith": "doc"}}, ["a", "c"]),
             ({"n": {"$startsWith": "3"}}, []),
             ({"$and": [{"path": {"$startsWith": "docs/"}}, {"n": {"$exists": False}}]}, ["a"])]
    for f, keys in cases:
        assert [v["key"] for v in q(c, 10, filter=f)["vectors"]] == keys, f
    for bad in ({"path": {"$startsWith": 3}}, {"path": {"$startsWith": ["docs"]}}):
        assert "$startsWith" in rejected(q, c, 10, filter=bad)


# ---- ListVectors ---------------------------------------------------------------------------------

def list_all(c, **kw):
    keys, token = [], None
    while True:
        page = c.list_vectors(vectorBucketName=BUCKET, indexName="idx", **kw, **({"nextToken": token} if token else {}))
        keys += [v["key"] for v in page["vectors"]]
        token = page.get("nextToken")
        if not token:
            return keys


def test_list_vectors_pages_and_segments(s3v):
    put(s3v, line(203))
    everything = list_all(s3v, maxResults=1000)
    assert sorted(everything) == [f"k{i:04d}" for i in range(203)]
    assert list_all(s3v, maxResults=7) == everything
    assert len(s3v.list_vectors(vectorBucketName=BUCKET, indexName="idx")["vectors"]) == 203  # default 500
    for count in (1, 4, 16):
        segments = [list_all(s3v, maxResults=9, segmentCount=count, segmentIndex=i) for i in range(count)]
        assert sorted(k for seg in segments for k in seg) == sorted(everything), count
        assert sum(len(seg) for seg in segments) == 203
        # Stable: the same split every time.
        assert segments == [list_all(s3v, maxResults=50, segmentCount=count, segmentIndex=i) for i in range(count)]
    assert all(list_all(s3v, segmentCount=4, segmentIndex=i) for i in range(4))  # 203 keys: no segment empty


def test_list_vectors_validates_like_the_service(s3v, aws):
    raw = aws.client("s3vectors", validate=False)
    put(s3v, line(30))
    base = dict(vectorBucketName=BUCKET, indexName="idx")
    for bad, where in [(dict(maxResults=0), "/maxResults"), (dict(maxResults=1001), "/maxResults"),
                       (dict(segmentCount=0, segmentIndex=0), "/segmentCount"),
                       (dict(segmentCount=17, segmentIndex=0), "/segmentCount"),
                       (dict(segmentCount=4, segmentIndex=16), "/segmentIndex"),
                       (dict(segmentCount=4, segmentIndex=-1), "/segmentIndex"),
                       (dict(segmentCount=4, segmentIndex=4), "less than segmentCount"),
                       (dict(segmentCount=4), "together"), (dict(segmentIndex=0), "together"),
                       (dict(nextToken="not-a-token"), "not valid")]:
        assert where in rejected(raw.list_vectors, **base, **bad), bad
    token = s3v.list_vectors(**base, maxResults=2, segmentCount=2, segmentIndex=0)["nextToken"]
    assert "segmentIndex" in rejected(s3v.list_vectors, **base, nextToken=token, segmentCount=2, segmentIndex=1)
    assert "segmentIndex" in rejected(s3v.list_vectors, **base, nextToken=token)
    assert "indexArn" in rejected(raw.list_vectors, vectorBucketName=BUCKET)


def test_list_vectors_stops_a_page_after_one_megabyte(aws):
    c = aws.client("s3vectors")
    c.create_vector_bucket(vectorBucketName=BUCKET)
    c.create_index(vectorBucketName=BUCKET, indexName="idx", dataType="float32", dimension=2, distanceMetric="cosine",
                   metadataConfiguration={"nonFilterableMetadataKeys": ["text"]})
    put(c, [{"key": f"v{i:02d}", "data": {"float32": [1.0, float(i)]}, "metadata": {"text": "x" * 30_000}}
            for i in range(60)])
    page = c.list_vectors(vectorBucketName=BUCKET, indexName="idx", maxResults=1000, returnMetadata=True)
    assert 30 <= len(page["vectors"]) < 60 and page["nextToken"]
    assert len(list_all(c, maxResults=1000, returnMetadata=True)) == 60
    assert len(c.list_vectors(vectorBucketName=BUCKET, indexName="idx", maxResults=1000)["vectors"]) == 60


# ---- encryption and tags -------------------------------------------------------------------------

def test_bucket_and_index_encryption(aws):
    c = aws.client("s3vectors")
    raw = aws.client("s3vectors", validate=False)
    kms = {"sseType": "aws:kms", "kmsKeyArn": KMS_KEY}
    c.create_vector_bucket(vectorBucketName="kms-bucket", encryptionConfiguration=kms)
    assert c.get_vector_bucket(vectorBucketName="kms-bucket")["vectorBucket"]["encryptionConfiguration"] == kms
    c.create_vector_bucket(vectorBucketName="s3-bucket", encryptionConfiguration={"sseType": "AES256"})
    assert c.get_vector_bucket(vectorBucketName="s3-bucket")["vectorBucket"]["encryptionConfiguration"] == {
        "sseType": "AES256"}
    bad = [({"sseType": "aws:kms"}, "kmsKeyArn is required"),
           ({"sseType": "AES256", "kmsKeyArn": KMS_KEY}, "only when sseType is aws:kms"),
           ({"kmsKeyArn": KMS_KEY}, "only when sseType is aws:kms"),
           ({"sseType": "aws:kms", "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:alias/mine"}, "regular expression"),
           ({"sseType": "aws:kms", "kmsKeyArn": "1234abcd-12ab-34cd-56ef-1234567890ab"}, "regular expression"),
           ({"sseType": "aws:kms", "kmsKeyArn": "arn:aws:kms:us-east-1:12345:key/x"}, "regular expression"),
           ({"sseType": "SSE-C"}, "enum value set")]
    for i, (config, msg) in enumerate(bad):
        assert msg in rejected(raw.create_vector_bucket, vectorBucketName=f"bad-{i}", encryptionConfiguration=config)
    assert [b["vectorBucketName"] for b in c.list_vector_buckets()["vectorBuckets"]] == ["kms-bucket", "s3-bucket"]
    # An index may set its own.
    c.create_index(vectorBucketName="s3-bucket", indexName="idx", dataType="float32", dimension=2,
                   distanceMetric="cosine", encryptionConfiguration=kms)
    assert c.get_index(vectorBucketName="s3-bucket", indexName="idx")["index"]["encryptionConfiguration"] == kms
    assert "kmsKeyArn is required" in rejected(
        raw.create_index, vectorBucketName="s3-bucket", indexName="idx2", dataType="float32", dimension=2,
        distanceMetric="cosine", encryptionConfiguration={"sseType": "aws:kms"})


def test_tags_at_creation(aws):
    c = aws.client("s3vectors")
    bucket_arn = c.create_vector_bucket(vectorBucketName=BUCKET, tags={"team": "search", "env": "test"})["vectorBucketArn"]
    index_arn = c.create_index(vectorBucketName=BUCKET, indexName="idx", dataType="float32", dimension=2,
                               distanceMetric="cosine", tags={"owner": "me"})["indexArn"]
    assert c.list_tags_for_resource(resourceArn=bucket_arn)["tags"] == {"team": "search", "env": "test"}
    assert c.list_tags_for_resource(resourceArn=index_arn)["tags"] == {"owner": "me"}
    # A bucket may be named by its ARN.
    by_arn = c.create_index(vectorBucketArn=bucket_arn, indexName="by-arn", dataType="float32", dimension=2,
                            distanceMetric="cosine", tags={"k": "v"})["indexArn"]
    assert by_arn == f"{bucket_arn}/index/by-arn"
    assert c.get_index(indexArn=by_arn)["index"]["indexMode"] == "ENHANCED"
    with pytest.raises(ClientError) as e:
        c.create_index(vectorBucketArn=bucket_arn, indexName="by-arn", dataType="float32", dimension=2,
                       distanceMetric="cosine")
    assert code(e) == "ConflictException"


# ---- IAM ---------------------------------------------------------------------------------------

def test_iam_actions_and_arns_of_the_new_operations():
    with Launched("--enforce-iam", prefix="localaws-s3v-iam-") as local:
        creds = local.control("credentials")

        def client(key, secret):
            return boto3.client("s3vectors", endpoint_url=local.url, region_name="us-east-1", aws_access_key_id=key,
                                aws_secret_access_key=secret, config=Config(retries={"total_max_attempts": 1}))

        admin = client(creds["AccessKeyId"], creds["SecretAccessKey"])
        iam = boto3.client("iam", endpoint_url=local.url, region_name="us-east-1", aws_access_key_id=creds["AccessKeyId"],
                           aws_secret_access_key=creds["SecretAccessKey"])
        bucket = "arn:aws:s3vectors:us-east-1:123456789012:bucket/iam-2026"
        admin.create_vector_bucket(vectorBucketName="iam-2026")
        for name in ("idx", "other"):
            admin.create_index(vectorBucketName="iam-2026", indexName=name, dataType="float32", dimension=2,
                               distanceMetric="cosine")
        iam.create_user(UserName="moder")
        iam.put_user_policy(UserName="moder", PolicyName="p", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3vectors:UpdateIndexMode", "Resource": f"{bucket}/index/idx"},
                {"Effect": "Allow", "Action": ["s3vectors:PutVectorBucketDefaultIndexMode", "s3vectors:CreateIndex"],
                 "Resource": [bucket, f"{bucket}/index/*"]}]}))
        key = iam.create_access_key(UserName="moder")["AccessKey"]
        user = client(key["AccessKeyId"], key["SecretAccessKey"])

        def denied(call, **kw):
            with pytest.raises(ClientError) as e:
                call(**kw)
            assert code(e) == "AccessDeniedException"
            return message(e)

        user.update_index_mode(vectorBucketName="iam-2026", indexName="idx", indexMode="ENHANCED")
        msg = denied(user.update_index_mode, vectorBucketName="iam-2026", indexName="other", indexMode="ENHANCED")
        assert f"s3vectors:UpdateIndexMode on resource: {bucket}/index/other" in msg
        user.put_vector_bucket_default_index_mode(vectorBucketName="iam-2026", defaultIndexMode="ENHANCED")
        msg = denied(user.put_vector_bucket_default_index_mode, vectorBucketName="other-bucket",
                     defaultIndexMode="ENHANCED")
        assert "s3vectors:PutVectorBucketDefaultIndexMode on resource: arn:aws:s3vectors:us-east-1:123456789012:" \
               "bucket/other-bucket" in msg
        # An index created with tags needs s3vectors:TagResource on it as well.
        user.create_index(vectorBucketName="iam-2026", indexName="plain", dataType="float32", dimension=2,
                          distanceMetric="cosine")
        msg = denied(user.create_index, vectorBucketName="iam-2026", indexName="tagged", dataType="float32",
                     dimension=2, distanceMetric="cosine", tags={"a": "b"})
        assert f"s3vectors:TagResource on resource: {bucket}/index/tagged" in msg
        assert len(admin.list_indexes(vectorBucketName="iam-2026")["indexes"]) == 3
