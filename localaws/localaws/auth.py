"""IAM enforcement (`--enforce-iam`): every call is checked against the caller's policies.

moto checks the calls that reach it (`INITIAL_NO_AUTH_ACTION_COUNT=0`), but judges S3 Vectors
against resource `*` and never sees the calls this layer answers itself (QueryVectors,
ListVectors, InvokeEndpoint). Here those are checked with the ARN they touch (access keys must exist; signatures are not
recomputed, see `enable`), and moto's S3
Vectors responses get the `_determine_resource` hook, so an exact-ARN policy works and a
missing action or a wrong ARN is denied as on AWS. QueryVectors with `returnMetadata` or a
filter, and ListVectors with `returnData`/`returnMetadata`, also need `s3vectors:GetVectors`.
"""

import json

from .common import ACCOUNT_ID, Response, aws_error


def index_or_bucket_arn(region: str, req: dict) -> str:
    if req.get("indexArn"):
        return req["indexArn"]
    if req.get("vectorBucketArn") and not req.get("indexName"):
        return req["vectorBucketArn"]
    bucket = req.get("vectorBucketName") or ""
    base = f"arn:aws:s3vectors:{region}:{ACCOUNT_ID}:bucket/{bucket}"
    return f"{base}/index/{req['indexName']}" if req.get("indexName") else base


def enable() -> None:
    from moto import settings
    from moto.iam.access_control import IAMRequestBase
    from moto.s3vectors.responses import S3VectorsResponse

    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    # Keys must exist and policies must allow the call, but signatures are not recomputed:
    # moto's recomputation disagrees with the Rust SDK's encoding of some query-protocol
    # bodies (e.g. IAM CreateRole) and would deny correct requests.
    IAMRequestBase.check_signature = lambda self: None

    def _determine_resource(self) -> str:
        try:
            req = json.loads(self.body or "{}")
        except ValueError:
            req = {}
        return index_or_bucket_arn(self.region, req)

    S3VectorsResponse._determine_resource = _determine_resource


def actions_and_resource(service: str, operation: str, region: str, environ, body: bytes):
    """The IAM actions and resource ARN of a call this layer authorizes, or None."""
    if service == "s3vectors":
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            req = {}
        actions = [operation]
        if operation == "QueryVectors" and (req.get("returnMetadata") or req.get("filter") is not None):
            actions.append("GetVectors")
        if operation == "ListVectors" and (req.get("returnData") or req.get("returnMetadata")):
            actions.append("GetVectors")
        return actions, index_or_bucket_arn(region, req)
    if service == "sagemaker" and operation == "InvokeEndpoint":
        name = environ.get("PATH_INFO", "").split("/")[2].lower()
        return ["InvokeEndpoint"], f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}:endpoint/{name}"
    if service == "sagemaker" and operation in ("DescribeEndpoint", "DescribeEndpointConfig"):
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            req = {}
        if operation == "DescribeEndpoint":
            kind, name = "endpoint", req.get("EndpointName", "")
        else:
            kind, name = "endpoint-config", req.get("EndpointConfigName", "")
        return [operation], f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}:{kind}/{name.lower()}"
    return None


def authorize(service: str, operation: str, region: str, environ, body: bytes) -> Response | None:
    """None when allowed, else the denial to answer."""
    from moto.iam.access_control import IAMRequest
    from werkzeug.datastructures import EnvironHeaders
    from werkzeug.exceptions import HTTPException

    spec = actions_and_resource(service, operation, region, environ, body)
    if spec is None:
        return None
    actions, resource = spec
    path = environ.get("RAW_URI") or environ.get("PATH_INFO", "")
    headers = EnvironHeaders(environ)
    for action in actions:
        try:
            req = IAMRequest(account_id=ACCOUNT_ID, method=environ["REQUEST_METHOD"], path=path, data={},
                             body=body, headers=headers, action=action)
            req.check_action_permitted(resource)
        except HTTPException as e:
            code = getattr(e, "error_type", None) or "AccessDeniedException"
            if code == "AccessDenied":
                code = "AccessDeniedException"
            return aws_error(service, 403, code,
                             f"not authorized to perform: {service}:{action} on resource: {resource}")
    return None
