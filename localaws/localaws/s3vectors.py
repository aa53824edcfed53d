"""S3 Vectors: what moto 5.2.5 lacks.

QueryVectors (cosine/euclidean, topK, filters), index `metadataConfiguration`, ConflictException
on a duplicate CreateIndex (moto replaces the index and wipes its vectors), PutVectors limits
with AWS's errors, and ListVectors pagination. Metadata sizes are the byte length of the
compact JSON encoding, the measure the function applies before it writes.
"""

import base64
import json
import math

from .common import ACCOUNT_ID, Response, aws_error

MAX_PUT = 500
MAX_TOP_K = 100
MAX_KEYS = 50
MAX_FILTERABLE = 2048
MAX_TOTAL = 40 * 1024
MAX_NON_FILTERABLE_KEYS = 10
MISSING = object()
COMPARISONS = ("$gt", "$gte", "$lt", "$lte")
OPERATORS = ("$eq", "$ne", "$in", "$nin", "$exists") + COMPARISONS


def invalid(message: str) -> Response:
    return aws_error("s3vectors", 400, "ValidationException", message)


def encoded_size(metadata: dict) -> int:
    return len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())


def check_filter(node, non_filterable: set, top=True) -> None:
    """Raises a ValidationException for a malformed filter or one on a non-filterable key."""
    if not isinstance(node, dict) or (top and not node):
        raise invalid("Invalid filter: a filter must be a non-empty JSON object")
    for key, cond in node.items():
        if key in ("$and", "$or"):
            if not isinstance(cond, list) or not cond:
                raise invalid(f"Invalid filter: {key} requires a non-empty array of filters")
            for sub in cond:
                check_filter(sub, non_filterable)
            continue
        if key.startswith("$"):
            raise invalid(f"Invalid filter: unsupported operator {key}")
        if key in non_filterable:
            raise invalid(f"Invalid filter: metadata key '{key}' is not filterable")
        if isinstance(cond, dict):
            if not cond:
                raise invalid(f"Invalid filter: empty condition for '{key}'")
            for op, arg in cond.items():
                if op not in OPERATORS:
                    raise invalid(f"Invalid filter: unsupported operator {op}")
                if op in COMPARISONS and (isinstance(arg, bool) or not isinstance(arg, (int, float))):
                    raise invalid(f"Invalid filter: {op} requires a number")
                if op in ("$in", "$nin") and (not isinstance(arg, list) or not arg):
                    raise invalid(f"Invalid filter: {op} requires a non-empty array")
                if op == "$exists" and not isinstance(arg, bool):
                    raise invalid("Invalid filter: $exists requires a boolean")
                if op in ("$eq", "$ne") and isinstance(arg, (dict, list)):
                    raise invalid(f"Invalid filter: {op} requires a string, number or boolean")
        elif isinstance(cond, list) or cond is None:
            raise invalid(f"Invalid filter: bad condition for '{key}'")


def _eq(value, arg) -> bool:
    if value is MISSING:
        return False
    if isinstance(value, list):
        return arg in value
    return value == arg and isinstance(value, bool) == isinstance(arg, bool)


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


class S3Vectors:
    def __init__(self, aws):
        self.aws = aws
        self.configs: dict[str, dict] = {}

    def reset(self):
        self.configs.clear()

    @staticmethod
    def backend(region: str):
        from moto.s3vectors.models import s3vectors_backends
        from moto.utilities.utils import get_partition

        return s3vectors_backends[ACCOUNT_ID][get_partition(region)]

    def index_of(self, region: str, req: dict):
        from moto.s3vectors.exceptions import IndexNotFound

        try:
            return self.backend(region).get_index(req.get("vectorBucketName"), req.get("indexName"), req.get("indexArn"))
        except IndexNotFound:
            raise aws_error("s3vectors", 404, "NotFoundException", "The specified index could not be found")

    def non_filterable(self, index) -> set:
        return set(self.configs.get(index.index_arn, {}).get("nonFilterableMetadataKeys", []))

    def before(self, call, environ, body: bytes, region: str):
        op = call.operation
        if op not in ("CreateIndex", "PutVectors", "QueryVectors", "ListVectors"):
            return None
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            return invalid("The request body is not valid JSON")
        return getattr(self, f"_{op}")(req, region)

    def after(self, call, environ, body: bytes, region: str, resp: Response):
        if resp.status != 200:
            return None
        req = json.loads(body or b"{}")
        if call.operation == "CreateIndex":
            index = self.index_of(region, req)
            config = req.get("metadataConfiguration") or {}
            self.configs[index.index_arn] = {
                "nonFilterableMetadataKeys": list(config.get("nonFilterableMetadataKeys") or [])
            }
        elif call.operation == "GetIndex":
            out = json.loads(resp.body)
            arn = out.get("index", {}).get("indexArn")
            config = self.configs.get(arn)
            if config and config["nonFilterableMetadataKeys"]:
                out["index"]["metadataConfiguration"] = config
            return Response(200, out, {"x-amzn-RequestId": resp.headers.get("x-amzn-RequestId", "")})
        elif call.operation == "DeleteIndex":
            pass
        return None

    # ---- operations ---------------------------------------------------------------------

    def _CreateIndex(self, req: dict, region: str):
        from moto.s3vectors.exceptions import IndexNotFound, VectorBucketNotFound

        name = req.get("indexName") or ""
        if not 3 <= len(name) <= 63:
            return invalid("1 validation error detected. Value at '/indexName' failed to satisfy constraint: Member must have length between 3 and 63, inclusive")
        keys = (req.get("metadataConfiguration") or {}).get("nonFilterableMetadataKeys") or []
        if len(keys) > MAX_NON_FILTERABLE_KEYS:
            return invalid("1 validation error detected. Value at '/metadataConfiguration/nonFilterableMetadataKeys' failed to satisfy constraint: Member must have length less than or equal to 10")
        try:
            self.backend(region).get_index(req.get("vectorBucketName"), name, None)
        except (IndexNotFound, VectorBucketNotFound):
            return None
        return aws_error("s3vectors", 409, "ConflictException", "An index with the specified name already exists")

    def _PutVectors(self, req: dict, region: str):
        index = self.index_of(region, req)
        vectors = req.get("vectors") or []
        if not 1 <= len(vectors) <= MAX_PUT:
            return invalid(f"1 validation error detected. Value at '/vectors' failed to satisfy constraint: Member must have length between 1 and {MAX_PUT}, inclusive")
        non_filterable = self.non_filterable(index)
        for v in vectors:
            key = v.get("key", "")
            data = (v.get("data") or {}).get("float32") or []
            if len(data) != index.dimension:
                return invalid(f"Invalid record for key '{key}': vector must have length {index.dimension}, but has length {len(data)}")
            if any(not isinstance(x, (int, float)) or not math.isfinite(x) for x in data):
                return invalid(f"Invalid record for key '{key}': vector data must not contain NaN or Infinity values")
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
        return None

    def _QueryVectors(self, req: dict, region: str):
        index = self.index_of(region, req)
        top_k = req.get("topK")
        if not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            return invalid(f"1 validation error detected. Value at '/topK' failed to satisfy constraint: Member must be between 1 and {MAX_TOP_K}, inclusive")
        query = (req.get("queryVector") or {}).get("float32") or []
        if len(query) != index.dimension:
            return invalid(f"Query vector must have length {index.dimension}, but has length {len(query)}")
        flt = req.get("filter")
        if flt is not None:
            check_filter(flt, self.non_filterable(index))
        scored = []
        for v in list(index.vectors.values()):
            meta = v.metadata or {}
            if flt is not None and not matches(flt, meta):
                continue
            scored.append((distance(index.distance_metric, query, v.data["float32"]), v))
        scored.sort(key=lambda pair: pair[0])
        out = []
        for d, v in scored[:top_k]:
            item = {"key": v.key}
            if req.get("returnDistance"):
                item["distance"] = d
            if req.get("returnMetadata"):
                item["metadata"] = v.metadata or {}
            out.append(item)
        return Response(200, {"vectors": out, "distanceMetric": index.distance_metric})

    def _ListVectors(self, req: dict, region: str):
        index = self.index_of(region, req)
        max_results = req.get("maxResults", 500)
        if not isinstance(max_results, int) or not 1 <= max_results <= 1000:
            return invalid("1 validation error detected. Value at '/maxResults' failed to satisfy constraint: Member must be between 1 and 1000, inclusive")
        keys = list(index.vectors.keys())
        start = 0
        if req.get("nextToken"):
            try:
                start = int(base64.urlsafe_b64decode(req["nextToken"].encode()).decode())
            except (ValueError, UnicodeDecodeError):
                return invalid("Invalid nextToken")
        page = keys[start:start + max_results]
        out = []
        for key in page:
            v = index.vectors[key]
            item = {"key": key}
            if req.get("returnData"):
                item["data"] = v.data
            if req.get("returnMetadata"):
                item["metadata"] = v.metadata or {}
            out.append(item)
        result = {"vectors": out}
        if start + max_results < len(keys):
            result["nextToken"] = base64.urlsafe_b64encode(str(start + max_results).encode()).decode()
        return Response(200, result)
