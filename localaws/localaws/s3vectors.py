"""S3 Vectors: what moto 5.2.5 lacks.

QueryVectors (cosine/euclidean, topK up to 10,000 answered in pages of 100 with `nextToken`,
filters including `$startsWith`), index modes (CLASSIC / ENHANCED: GetIndex `indexMode`,
GetVectorBucket `defaultIndexMode`, UpdateIndexMode, PutVectorBucketDefaultIndexMode, QueryVectors
`queryMode`), index `metadataConfiguration`, ConflictException on a duplicate CreateIndex (moto
replaces the index and wipes its vectors), PutVectors limits with AWS's errors, ListVectors
pagination and parallel listing (`segmentCount` / `segmentIndex`), encryption configuration checks,
and the members moto leaves out (`creationTime`; the ARN CreateVectorBucket and CreateIndex
answer). Metadata sizes are the byte length of the compact JSON encoding, the measure the
function applies before it writes.

Index modes. A bucket created "now" has `defaultIndexMode` ENHANCED, as every bucket created on
or after 2026-09-30 does. The knob `s3vectors_default_index_mode` (POST /_localaws/config) set to
CLASSIC makes the buckets created afterwards behave as buckets created before that date: their
default is CLASSIC, and only they accept CLASSIC in UpdateIndexMode and
PutVectorBucketDefaultIndexMode. A new index takes its bucket's default mode.
- ENHANCED: the filter is applied before the search (exact top K of the matching vectors).
- CLASSIC: the filter is applied during the approximate search; emulated as: the nearest
  max(topK, 100) vectors are the candidates, and the filter keeps those of them that match, so a
  selective filter returns fewer than topK hits. `$startsWith` is refused. `queryMode: ENHANCED`
  runs one query on a CLASSIC index with ENHANCED behaviour; `queryMode: CLASSIC` on an ENHANCED
  index is refused.

QueryVectors paging: results come in pages of 100; `nextToken` is returned while results remain.
A request carrying a nextToken must repeat the first request's queryVector, topK, filter and
queryMode (else ValidationException); tokens expire `s3vectors_query_token_secs` (clock scaled,
default 300) after the first page was computed. The ranked list is computed once per query (a
snapshot): writes between pages are not reflected.

Limits moto lacks: GetVectors takes 1-100 keys, DeleteVectors 1-500, PutVectors 1-500 vectors;
keys are 1-1,024 characters; cosine indexes refuse an all-zero vector; bucket and index names
follow S3 Vectors' naming rules. Write quotas per index: PutVectors and DeleteVectors together
at most `s3vectors_write_requests_per_sec` requests (1,000) and `s3vectors_write_vectors_per_sec`
vectors (2,500) in any second; beyond them 429 TooManyRequestsException (0 turns a quota off).
"""

import base64
import json
import math
import re
import secrets
import threading
import time
import zlib

from .common import ACCOUNT_ID, Response, aws_error

MAX_PUT = 500
MAX_GET = 100
MAX_DELETE = 500
MAX_KEY_LEN = 1024
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
INDEX_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
MAX_TOP_K = 10_000
QUERY_PAGE_SIZE = 100
# CLASSIC emulation: the filter is evaluated on the nearest max(topK, this) vectors only.
CLASSIC_MIN_CANDIDATES = 100
MAX_QUERY_TOKENS = 2_000
MAX_KEYS = 50
MAX_FILTERABLE = 2048
MAX_TOTAL = 40 * 1024
MAX_NON_FILTERABLE_KEYS = 10
MAX_LIST_RESULTS = 1000
DEFAULT_LIST_RESULTS = 500
MAX_SEGMENTS = 16
# ListVectors stops a page once the data it returns passes 1 MB (and answers a nextToken).
MAX_LIST_PAGE_BYTES = 1024 * 1024
MODES = ("CLASSIC", "ENHANCED")
SSE_TYPES = ("AES256", "aws:kms")
KMS_KEY_ARN = re.compile(r"arn:aws[-a-z0-9]*:kms:[-a-z0-9]*:[0-9]{12}:key/.+")
MISSING = object()
COMPARISONS = ("$gt", "$gte", "$lt", "$lte")
OPERATORS = ("$eq", "$ne", "$in", "$nin", "$exists", "$startsWith") + COMPARISONS
INDEX_OPS = ("PutVectors", "QueryVectors", "ListVectors", "UpdateIndexMode")


def invalid(message: str) -> Response:
    return aws_error("s3vectors", 400, "ValidationException", message)


def not_found(what: str) -> Response:
    return aws_error("s3vectors", 404, "NotFoundException", f"The specified {what} could not be found")


def constraint(path: str, rule: str, value=MISSING) -> Response:
    """The smithy-style message AWS answers for a member that fails its model constraint."""
    shown = "" if value is MISSING else f" '{value}'"
    return invalid(f"1 validation error detected. Value{shown} at '{path}' failed to satisfy constraint: {rule}")


def encoded_size(metadata) -> int:
    return len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


MAX_FILTER_CONSTRAINTS = 100  # ENHANCED indexes refuse filters with more constraints


def is_scalar(value) -> bool:
    return isinstance(value, (str, bool, int, float))


def check_filter(node, non_filterable: set, limit=None) -> None:
    """Raises a ValidationException for a malformed filter, one on a non-filterable key, or one
    with more than `limit` constraints. The product's Rust evaluator runs the same case file
    (shared/filter-cases.json)."""
    count = _check_node(node, non_filterable)
    if limit is not None and count > limit:
        raise invalid(f"Invalid filter: {count} constraints; the limit is {limit}")


def _check_node(node, non_filterable: set) -> int:
    if not isinstance(node, dict) or not node:
        raise invalid("Invalid filter: a filter must be a non-empty JSON object")
    count = 0
    for key, cond in node.items():
        if key in ("$and", "$or"):
            if not isinstance(cond, list) or not cond:
                raise invalid(f"Invalid filter: {key} requires a non-empty array of filters")
            count += sum(_check_node(sub, non_filterable) for sub in cond)
            continue
        if key.startswith("$"):
            raise invalid(f"Invalid filter: unsupported operator {key}")
        if key in non_filterable:
            raise invalid(f"Invalid filter: metadata key '{key}' is not filterable")
        if not isinstance(cond, dict):
            if not is_scalar(cond):
                raise invalid(f"Invalid filter: bad condition for '{key}'")
            count += 1
            continue
        if not cond:
            raise invalid(f"Invalid filter: empty condition for '{key}'")
        for op, arg in cond.items():
            count += 1
            if op not in OPERATORS:
                raise invalid(f"Invalid filter: unsupported operator {op}")
            if op in COMPARISONS and (isinstance(arg, bool) or not isinstance(arg, (int, float))):
                raise invalid(f"Invalid filter: {op} requires a number")
            if op in ("$in", "$nin") and (not isinstance(arg, list) or not arg or not all(map(is_scalar, arg))):
                raise invalid(f"Invalid filter: {op} requires a non-empty array of strings, numbers or booleans")
            if op == "$exists" and not isinstance(arg, bool):
                raise invalid("Invalid filter: $exists requires a boolean")
            if op in ("$eq", "$ne") and not is_scalar(arg):
                raise invalid(f"Invalid filter: {op} requires a string, number or boolean")
            if op == "$startsWith" and not isinstance(arg, str):
                raise invalid("Invalid filter: $startsWith requires a string")
    return count


def uses_operator(node, operator: str) -> bool:
    if isinstance(node, dict):
        return any(k == operator or uses_operator(v, operator) for k, v in node.items())
    if isinstance(node, list):
        return any(uses_operator(v, operator) for v in node)
    return False


def _same(value, arg) -> bool:
    """Scalars by value: numbers as numbers (2024 == 2024.0), never a number equal to a boolean."""
    return value == arg and isinstance(value, bool) == isinstance(arg, bool)


def _eq(value, arg) -> bool:
    if value is MISSING:
        return False
    if isinstance(value, list):
        return any(_same(v, arg) for v in value)
    return _same(value, arg)


def _starts_with(value, prefix: str) -> bool:
    if isinstance(value, str):
        return value.startswith(prefix)
    if isinstance(value, list):  # like $eq: a list value matches when one of its elements does
        return any(isinstance(v, str) and v.startswith(prefix) for v in value)
    return False


def matches(node: dict, metadata: dict) -> bool:
    for key, cond in node.items():
        if key == "$and":
            if not all(matches(sub, metadata) for sub in cond):
                return False
            continue
        if key == "$or":
            if not any(matches(sub, metadata) for sub in cond):
                return False
            continue
        value = metadata.get(key, MISSING)
        conds = cond if isinstance(cond, dict) else {"$eq": cond}
        for op, arg in conds.items():
            if op == "$eq":
                ok = _eq(value, arg)
            elif op == "$ne":
                ok = not _eq(value, arg)
            elif op == "$in":
                ok = any(_eq(value, a) for a in arg)
            elif op == "$nin":
                ok = not any(_eq(value, a) for a in arg)
            elif op == "$exists":
                ok = (value is not MISSING) == arg
            elif op == "$startsWith":
                ok = _starts_with(value, arg)
            else:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    ok = False
                else:
                    ok = {"$gt": value > arg, "$gte": value >= arg, "$lt": value < arg, "$lte": value <= arg}[op]
            if not ok:
                return False
    return True


def distance(metric: str, a: list, b: list) -> float:
    if metric == "euclidean":
        return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    if na == 0 or nb == 0:
        return 1.0
    return 1.0 - dot / (na * nb)


def segment_of(key: str, count: int) -> int:
    """The ListVectors segment of a key: stable across calls and processes."""
    return zlib.crc32(key.encode()) % count


def check_mode(value, path: str) -> None:
    if value is None:
        raise constraint(path, "Member must not be null")
    if value not in MODES:
        raise constraint(path, "Member must satisfy enum value set: [CLASSIC, ENHANCED]", value)


def check_encryption(config, path: str) -> None:
    """`kmsKeyArn` is allowed if and only if `sseType` is `aws:kms`, and must be a key ARN."""
    if config is None:
        return
    if not isinstance(config, dict):
        raise invalid(f"Invalid value at '{path}': must be an object")
    sse, key = config.get("sseType"), config.get("kmsKeyArn")
    if sse is not None and sse not in SSE_TYPES:
        raise constraint(f"{path}/sseType", "Member must satisfy enum value set: [AES256, aws:kms]", sse)
    if key is not None:
        if not isinstance(key, str) or not 1 <= len(key) <= 2048:
            raise constraint(f"{path}/kmsKeyArn", "Member must have length between 1 and 2048, inclusive")
        if not KMS_KEY_ARN.fullmatch(key):
            raise constraint(f"{path}/kmsKeyArn", "Member must satisfy regular expression pattern: "
                             "(arn:aws[-a-z0-9]*:kms:[-a-z0-9]*:[0-9]{12}:key/.+)", key)
        if sse != "aws:kms":
            raise invalid("Invalid encryption configuration: kmsKeyArn is allowed only when sseType is aws:kms")
    elif sse == "aws:kms":
        raise invalid("Invalid encryption configuration: kmsKeyArn is required when sseType is aws:kms")


class S3Vectors:
    def __init__(self, aws):
        self.aws = aws
        self.lock = threading.Lock()
        # Per index ARN: nonFilterableMetadataKeys, indexMode, encryptionConfiguration, creationTime.
        self.configs: dict[str, dict] = {}
        # Per bucket ARN: legacy (created "before 2026-09-30"), defaultIndexMode, creationTime.
        self.buckets: dict[str, dict] = {}
        # QueryVectors page tokens: token -> {"session": {...}, "offset": n}.
        self.tokens: dict[str, dict] = {}
        # Per index ARN: the writes of the last second, as (time, vectors).
        self.writes: dict[str, list] = {}

    def reset(self):
        with self.lock:
            self.configs.clear()
            self.buckets.clear()
            self.tokens.clear()
            self.writes.clear()

    def take_write_quota(self, index_arn: str, vectors: int):
        """Counts one write of `vectors` against the index's per-second quotas, or answers 429
        TooManyRequestsException (the write is not counted) when it would exceed one."""
        settings = self.aws.settings
        max_requests, max_vectors = settings.s3vectors_write_requests_per_sec, settings.s3vectors_write_vectors_per_sec
        now = time.monotonic()
        with self.lock:
            recent = [w for w in self.writes.get(index_arn, []) if now - w[0] < 1.0]
            over = ((max_requests and len(recent) + 1 > max_requests)
                    or (max_vectors and sum(n for _, n in recent) + vectors > max_vectors))
            if not over:
                recent.append((now, vectors))
            self.writes[index_arn] = recent
        if over:
            raise aws_error("s3vectors", 429, "TooManyRequestsException",
                            "The request rate for this vector index is too high; reduce the rate of PutVectors "
                            "and DeleteVectors requests and retry")

    @staticmethod
    def backend(region: str):
        from moto.s3vectors.models import s3vectors_backends
        from moto.utilities.utils import get_partition

        return s3vectors_backends[ACCOUNT_ID][get_partition(region)]

    def index_of(self, region: str, req: dict):
        from moto.s3vectors.exceptions import IndexNotFound

        try:
            return self.backend(region).get_index(req.get("vectorBucketName"), req.get("indexName"), req.get("indexArn"))
        except (IndexNotFound, ValueError, IndexError):
            raise not_found("index")

    def new_index_arn(self, region: str, req: dict) -> str:
        """The ARN of the index a CreateIndex request names (by bucket name or bucket ARN)."""
        bucket = req.get("vectorBucketArn") or self.bucket_arn(region, req.get("vectorBucketName"))
        return f"{bucket}/index/{req.get('indexName')}"

    @staticmethod
    def bucket_arn(region: str, name) -> str:
        from moto.s3vectors.utils import create_vector_bucket_arn

        return create_vector_bucket_arn(ACCOUNT_ID, region, name=name)

    def located_index(self, region: str, req: dict):
        """The index named by indexArn, or by vectorBucketName and indexName (exactly one way)."""
        by_name = req.get("vectorBucketName") and req.get("indexName")
        if not ((by_name and not req.get("indexArn")) or
                (req.get("indexArn") and not req.get("vectorBucketName") and not req.get("indexName"))):
            raise invalid("Must specify either indexArn or both vectorBucketName and indexName")
        return self.index_of(region, req)

    def located_bucket(self, region: str, req: dict):
        from moto.s3vectors.exceptions import VectorBucketNotFound

        name, arn = req.get("vectorBucketName"), req.get("vectorBucketArn")
        if bool(name) == bool(arn):
            raise invalid("Must specify either vectorBucketName or vectorBucketArn but not both")
        try:
            return self.backend(region).get_vector_bucket(vector_bucket_name=name, vector_bucket_arn=arn)
        except VectorBucketNotFound:
            raise not_found("vector bucket")

    def non_filterable(self, index) -> set:
        return set(self.configs.get(index.index_arn, {}).get("nonFilterableMetadataKeys", []))

    def bucket_state(self, bucket_arn: str) -> dict:
        return self.buckets.get(bucket_arn) or {"legacy": False, "defaultIndexMode": "ENHANCED"}

    def index_mode(self, index) -> str:
        return self.configs.get(index.index_arn, {}).get("indexMode", "ENHANCED")

    def before(self, call, environ, body: bytes, region: str):
        op = call.operation
        if op not in ("CreateVectorBucket", "CreateIndex", "PutVectors", "QueryVectors", "ListVectors",
                      "UpdateIndexMode", "PutVectorBucketDefaultIndexMode", "GetVectors", "DeleteVectors"):
            return None
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            return invalid("The request body is not valid JSON")
        if not isinstance(req, dict):
            return invalid("The request body must be a JSON object")
        return getattr(self, f"_{op}")(req, region)

    def after(self, call, environ, body: bytes, region: str, resp: Response):
        if resp.status != 200:
            return None
        req = json.loads(body or b"{}")
        op = call.operation
        if op == "CreateVectorBucket":
            bucket = self.backend(region).get_vector_bucket(vector_bucket_name=req.get("vectorBucketName"))
            mode = self.aws.settings.s3vectors_default_index_mode
            with self.lock:
                self.buckets[bucket.vector_bucket_arn] = {"legacy": mode == "CLASSIC", "defaultIndexMode": mode,
                                                          "creationTime": time.time()}
            return self.rewritten(resp, {"vectorBucketArn": bucket.vector_bucket_arn})
        elif op == "DeleteVectorBucket":
            with self.lock:
                self.buckets.pop(req.get("vectorBucketArn") or self.bucket_arn(region, req.get("vectorBucketName")), None)
        elif op == "CreateIndex":
            index = self.index_of(region, {"indexArn": self.new_index_arn(region, req)})
            config = req.get("metadataConfiguration") or {}
            bucket_arn = index.index_arn.rsplit("/index/", 1)[0]
            entry = {"nonFilterableMetadataKeys": list(config.get("nonFilterableMetadataKeys") or []),
                     "indexMode": self.bucket_state(bucket_arn)["defaultIndexMode"], "creationTime": time.time()}
            if req.get("encryptionConfiguration"):
                entry["encryptionConfiguration"] = req["encryptionConfiguration"]
            with self.lock:
                self.configs[index.index_arn] = entry
            return self.rewritten(resp, {"indexArn": index.index_arn})
        elif op == "DeleteIndex":
            arn = req.get("indexArn") or f"{self.bucket_arn(region, req.get('vectorBucketName'))}/index/{req.get('indexName')}"
            with self.lock:
                self.configs.pop(arn, None)
        elif op == "GetIndex":
            out = json.loads(resp.body)
            index = out.get("index", {})
            config = self.configs.get(index.get("indexArn"), {})
            if config.get("nonFilterableMetadataKeys"):
                index["metadataConfiguration"] = {"nonFilterableMetadataKeys": config["nonFilterableMetadataKeys"]}
            if config.get("encryptionConfiguration"):
                index["encryptionConfiguration"] = config["encryptionConfiguration"]
            index["indexMode"] = config.get("indexMode", "ENHANCED")
            index.setdefault("creationTime", config.get("creationTime", 0.0))
            return self.rewritten(resp, out)
        elif op == "ListIndexes":
            out = json.loads(resp.body)
            for index in out.get("indexes") or []:
                index.setdefault("creationTime", self.configs.get(index.get("indexArn"), {}).get("creationTime", 0.0))
            return self.rewritten(resp, out)
        elif op == "GetVectorBucket":
            out = json.loads(resp.body)
            bucket = out.get("vectorBucket", {})
            state = self.bucket_state(bucket.get("vectorBucketArn"))
            bucket["defaultIndexMode"] = state["defaultIndexMode"]
            bucket.setdefault("creationTime", state.get("creationTime", 0.0))
            return self.rewritten(resp, out)
        elif op == "ListVectorBuckets":
            out = json.loads(resp.body)
            for bucket in out.get("vectorBuckets") or []:
                bucket.setdefault("creationTime", self.bucket_state(bucket.get("vectorBucketArn")).get("creationTime", 0.0))
            return self.rewritten(resp, out)
        return None

    @staticmethod
    def rewritten(resp: Response, out: dict) -> Response:
        return Response(200, out, {"x-amzn-RequestId": resp.headers.get("x-amzn-RequestId", "")})

    # ---- operations ---------------------------------------------------------------------

    def _CreateVectorBucket(self, req: dict, region: str):
        name = req.get("vectorBucketName") or ""
        if not BUCKET_NAME.fullmatch(name):
            return invalid(f"Invalid vector bucket name '{name}': vector bucket names must be 3-63 characters of "
                           "lowercase letters, numbers and hyphens, beginning and ending with a letter or number")
        check_encryption(req.get("encryptionConfiguration"), "/encryptionConfiguration")
        return None

    def _CreateIndex(self, req: dict, region: str):
        from moto.s3vectors.exceptions import IndexNotFound, VectorBucketNotFound

        name = req.get("indexName") or ""
        if not 3 <= len(name) <= 63:
            return invalid("1 validation error detected. Value at '/indexName' failed to satisfy constraint: Member must have length between 3 and 63, inclusive")
        if not INDEX_NAME.fullmatch(name):
            return invalid(f"Invalid index name '{name}': index names must be lowercase letters, numbers, hyphens and "
                           "dots, beginning and ending with a letter or number")
        keys = (req.get("metadataConfiguration") or {}).get("nonFilterableMetadataKeys") or []
        if len(keys) > MAX_NON_FILTERABLE_KEYS:
            return invalid("1 validation error detected. Value at '/metadataConfiguration/nonFilterableMetadataKeys' failed to satisfy constraint: Member must have length less than or equal to 10")
        check_encryption(req.get("encryptionConfiguration"), "/encryptionConfiguration")
        try:
            self.backend(region).get_index(None, None, self.new_index_arn(region, req))
        except (IndexNotFound, VectorBucketNotFound, ValueError, IndexError):
            return None
        return aws_error("s3vectors", 409, "ConflictException", "An index with the specified name already exists")

    def _UpdateIndexMode(self, req: dict, region: str):
        check_mode(req.get("indexMode"), "/indexMode")
        index = self.located_index(region, req)
        bucket_arn = index.index_arn.rsplit("/index/", 1)[0]
        if req["indexMode"] == "CLASSIC" and not self.bucket_state(bucket_arn)["legacy"]:
            return invalid("You can set the index mode to CLASSIC only for a vector index in a vector bucket "
                           "created before September 30, 2026")
        with self.lock:
            self.configs.setdefault(index.index_arn, {"nonFilterableMetadataKeys": []})["indexMode"] = req["indexMode"]
        return Response(200, {})

    def _PutVectorBucketDefaultIndexMode(self, req: dict, region: str):
        check_mode(req.get("defaultIndexMode"), "/defaultIndexMode")
        bucket = self.located_bucket(region, req)
        state = self.bucket_state(bucket.vector_bucket_arn)
        if req["defaultIndexMode"] == "CLASSIC" and not state["legacy"]:
            return invalid("You can set the default index mode to CLASSIC only for a vector bucket created before "
                           "September 30, 2026")
        with self.lock:
            self.buckets[bucket.vector_bucket_arn] = {**state, "defaultIndexMode": req["defaultIndexMode"]}
        return Response(200, {})

    def _PutVectors(self, req: dict, region: str):
        index = self.located_index(region, req)
        vectors = req.get("vectors") or []
        if not 1 <= len(vectors) <= MAX_PUT:
            return invalid(f"1 validation error detected. Value at '/vectors' failed to satisfy constraint: Member must have length between 1 and {MAX_PUT}, inclusive")
        non_filterable = self.non_filterable(index)
        for v in vectors:
            key = v.get("key", "")
            if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LEN:
                return constraint("/vectors/member/key", f"Member must have length between 1 and {MAX_KEY_LEN}, inclusive")
            data = (v.get("data") or {}).get("float32") or []
            if len(data) != index.dimension:
                return invalid(f"Invalid record for key '{key}': vector must have length {index.dimension}, but has length {len(data)}")
            if any(not isinstance(x, (int, float)) or not math.isfinite(x) for x in data):
                return invalid(f"Invalid record for key '{key}': vector data must not contain NaN or Infinity values")
            if index.distance_metric == "cosine" and not any(data):
                return invalid(f"Invalid record for key '{key}': a zero vector is not supported with the cosine "
                               "distance metric")
            meta = v.get("metadata") or {}
            if not isinstance(meta, dict):
                return invalid(f"Invalid record for key '{key}': metadata must be an object")
            if len(meta) > MAX_KEYS:
                return invalid(f"Invalid record for key '{key}': metadata must have at most {MAX_KEYS} keys, but has {len(meta)}")
            filterable = {k: val for k, val in meta.items() if k not in non_filterable}
            if encoded_size(filterable) > MAX_FILTERABLE:
                return invalid(f"Invalid record for key '{key}': Filterable metadata must have at most {MAX_FILTERABLE} bytes")
            if encoded_size(meta) > MAX_TOTAL:
                return invalid(f"Invalid record for key '{key}': Total metadata must have at most {MAX_TOTAL} bytes")
        self.take_write_quota(index.index_arn, len(vectors))
        return None

    def _GetVectors(self, req: dict, region: str):
        keys = req.get("keys")
        if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_GET:
            return constraint("/keys", f"Member must have length between 1 and {MAX_GET}, inclusive")
        self.located_index(region, req)
        return None

    def _DeleteVectors(self, req: dict, region: str):
        keys = req.get("keys")
        if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_DELETE:
            return constraint("/keys", f"Member must have length between 1 and {MAX_DELETE}, inclusive")
        index = self.located_index(region, req)
        self.take_write_quota(index.index_arn, len(keys))
        return None

    # ---- QueryVectors -------------------------------------------------------------------

    def _QueryVectors(self, req: dict, region: str):
        index = self.located_index(region, req)
        top_k = req.get("topK")
        if top_k is None:
            return constraint("/topK", "Member must not be null")
        if not is_int(top_k) or not 1 <= top_k <= MAX_TOP_K:
            return constraint("/topK", f"Member must be between 1 and {MAX_TOP_K}, inclusive", top_k)
        query_mode = req.get("queryMode")
        if query_mode is not None:
            check_mode(query_mode, "/queryMode")
        index_mode = self.index_mode(index)
        if query_mode == "CLASSIC" and index_mode == "ENHANCED":
            return invalid("queryMode CLASSIC can't be specified for a vector index in ENHANCED mode")
        mode = query_mode or index_mode
        query = (req.get("queryVector") or {}).get("float32") or []
        if len(query) != index.dimension:
            return invalid(f"Query vector must have length {index.dimension}, but has length {len(query)}")
        if any(isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) for x in query):
            return invalid("Query vector must not contain NaN or Infinity values")
        flt = req.get("filter")
        if flt is not None:
            check_filter(flt, self.non_filterable(index), MAX_FILTER_CONSTRAINTS if mode == "ENHANCED" else None)
            if mode == "CLASSIC" and uses_operator(flt, "$startsWith"):
                return invalid("Invalid filter: the $startsWith operator is supported only by vector indexes in "
                               "ENHANCED mode (change the index with UpdateIndexMode, or set queryMode to ENHANCED)")
        fingerprint = (tuple(float(x) for x in query), top_k, json.dumps(flt, sort_keys=True), query_mode)
        token = req.get("nextToken")
        if token is not None:
            session, offset = self.resumed(token, index, fingerprint)
        else:
            session, offset = self.new_session(index, query, top_k, flt, mode, fingerprint), 0
        page = session["results"][offset:offset + QUERY_PAGE_SIZE]
        out = []
        for d, key, metadata in page:
            item = {"key": key}
            if req.get("returnDistance"):
                item["distance"] = d
            if req.get("returnMetadata"):
                item["metadata"] = metadata
            out.append(item)
        result = {"vectors": out, "distanceMetric": index.distance_metric}
        if offset + QUERY_PAGE_SIZE < len(session["results"]):
            result["nextToken"] = self.issue(session, offset + QUERY_PAGE_SIZE)
        return Response(200, result)

    def new_session(self, index, query: list, top_k: int, flt, mode: str, fingerprint) -> dict:
        scored = sorted(((distance(index.distance_metric, query, v.data["float32"]), v)
                         for v in list(index.vectors.values())), key=lambda pair: pair[0])
        if flt is not None:
            if mode == "CLASSIC":
                # Filtered during an approximate search: only the nearest candidates are seen.
                scored = scored[:max(top_k, CLASSIC_MIN_CANDIDATES)]
            scored = [(d, v) for d, v in scored if matches(flt, v.metadata or {})]
        results = [(d, v.key, json.loads(json.dumps(v.metadata or {}))) for d, v in scored[:top_k]]
        return {"index": index, "fingerprint": fingerprint, "results": results, "created": time.monotonic()}

    def token_lifetime(self) -> float:
        settings = self.aws.settings
        return settings.scaled(settings.s3vectors_query_token_secs)

    def issue(self, session: dict, offset: int) -> str:
        token = secrets.token_urlsafe(48)
        now, lifetime = time.monotonic(), self.token_lifetime()
        with self.lock:
            self.tokens = {t: e for t, e in self.tokens.items() if now - e["session"]["created"] <= lifetime}
            while len(self.tokens) >= MAX_QUERY_TOKENS:
                self.tokens.pop(next(iter(self.tokens)))
            self.tokens[token] = {"session": session, "offset": offset}
        return token

    def resumed(self, token, index, fingerprint) -> tuple[dict, int]:
        if not isinstance(token, str) or not 1 <= len(token) <= 4096:
            raise constraint("/nextToken", "Member must have length between 1 and 4096, inclusive")
        with self.lock:
            entry = self.tokens.get(token)
        if entry is None:
            raise invalid("The provided nextToken is not valid")
        session = entry["session"]
        if time.monotonic() - session["created"] > self.token_lifetime():
            with self.lock:
                self.tokens.pop(token, None)
            raise invalid("The provided nextToken has expired; re-issue the original query to start a new "
                          "pagination session")
        if session["index"] is not index:
            raise invalid("The provided nextToken was issued for a different vector index")
        if session["fingerprint"] != fingerprint:
            raise invalid("A request with a nextToken must use the same queryVector, topK, filter and queryMode "
                          "as the request that returned the token")
        return session, entry["offset"]

    # ---- ListVectors --------------------------------------------------------------------

    def _ListVectors(self, req: dict, region: str):
        index = self.located_index(region, req)
        max_results = req.get("maxResults", DEFAULT_LIST_RESULTS)
        if not is_int(max_results) or not 1 <= max_results <= MAX_LIST_RESULTS:
            return constraint("/maxResults", f"Member must be between 1 and {MAX_LIST_RESULTS}, inclusive", max_results)
        count, which = req.get("segmentCount"), req.get("segmentIndex")
        if count is not None and (not is_int(count) or not 1 <= count <= MAX_SEGMENTS):
            return constraint("/segmentCount", f"Member must be between 1 and {MAX_SEGMENTS}, inclusive", count)
        if which is not None and (not is_int(which) or not 0 <= which <= MAX_SEGMENTS - 1):
            return constraint("/segmentIndex", f"Member must be between 0 and {MAX_SEGMENTS - 1}, inclusive", which)
        if (count is None) != (which is None):
            return invalid("segmentCount and segmentIndex must be specified together")
        if count is not None and which >= count:
            return invalid(f"segmentIndex must be less than segmentCount: segmentIndex {which}, segmentCount {count}")
        after = None
        token = req.get("nextToken")
        if token is not None:
            if not isinstance(token, str) or not 1 <= len(token) <= 2048:
                return constraint("/nextToken", "Member must have length between 1 and 2048, inclusive")
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
                after = state["after"]
                issued_for = (state["index"], state["count"], state["segment"])
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                return invalid("The provided nextToken is not valid")
            if not isinstance(after, str) or issued_for != (index.index_arn, count, which):
                return invalid("The provided nextToken does not match this request's index, segmentCount and "
                               "segmentIndex")
        keys = sorted(k for k in list(index.vectors.keys())
                      if (count is None or segment_of(k, count) == which) and (after is None or k > after))
        out, size = [], 0
        for key in keys:
            if len(out) >= max_results or size > MAX_LIST_PAGE_BYTES:
                break
            v = index.vectors.get(key)
            if v is None:
                continue
            item = {"key": key}
            if req.get("returnData"):
                item["data"] = v.data
            if req.get("returnMetadata"):
                item["metadata"] = v.metadata or {}
            out.append(item)
            size += encoded_size(item)
        result = {"vectors": out}
        if out and out[-1]["key"] != keys[-1]:
            state = {"after": out[-1]["key"], "index": index.index_arn, "count": count, "segment": which}
            result["nextToken"] = base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")
        return Response(200, result)
