"""What each AWS call is authorized as: IAM actions, the ARNs they act on, and condition keys.

`checks` turns one call into the `Check`s AWS makes for it (all must be allowed), or None when
this layer has no mapping for the call (it is then denied). ARNs use the partition of the
signing region (`aws`, `aws-cn` for cn-*, `aws-us-gov` for us-gov-*) and `common.ACCOUNT_ID`.
The judged ARNs and keys are listed in `auth`'s docstring.
"""

import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from .common import ACCOUNT_ID


@dataclass
class Check:
    action: str
    resource: str
    context: dict = field(default_factory=dict)
    # sts:AssumeRole: the role's trust policy, a resource-based policy judged with the caller.
    trust: str | None = None


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def tag_context(resource_tags=None, request_tags=None, tag_keys=None) -> dict:
    """aws:ResourceTag/…, aws:RequestTag/… and aws:TagKeys (the request's tag keys)."""
    context = {f"aws:ResourceTag/{k}": v for k, v in (resource_tags or {}).items()}
    context.update({f"aws:RequestTag/{k}": v for k, v in (request_tags or {}).items()})
    keys = list(tag_keys if tag_keys is not None else (request_tags or {}))
    if keys:
        context["aws:TagKeys"] = keys
    return context


class Request:
    """The parts of one request the mappings read."""

    def __init__(self, operation, region, environ, body: bytes, caller_arn: str):
        self.operation, self.region = operation, region
        self.partition = partition_of(region)
        self.method = environ.get("REQUEST_METHOD", "")
        self.path = environ.get("PATH_INFO", "")  # percent-decoded
        target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or self.path
        self.raw_path = target.split("?", 1)[0]
        self.query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        self.body = body
        self.caller_arn = caller_arn

    def json(self) -> dict:
        try:
            value = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def form(self) -> dict:
        params = {k: v[0] for k, v in self.query.items()}
        try:
            params.update({k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()})
        except UnicodeDecodeError:
            pass
        return params

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{ACCOUNT_ID}:{resource}"


# ---- CloudWatch Logs ------------------------------------------------------------------------

LOGS_GROUP_OPS = {"CreateLogGroup", "DeleteLogGroup", "PutRetentionPolicy", "DeleteRetentionPolicy",
                  "DescribeLogStreams", "FilterLogEvents"}
LOGS_STREAM_OPS = {"CreateLogStream", "DeleteLogStream", "PutLogEvents", "GetLogEvents"}
LOGS_TAG_OPS = {"TagResource", "UntagResource", "ListTagsForResource"}


def _log_group_name(identifier: str) -> str:
    """A log group name from a name or an ARN (with or without the trailing `:*`)."""
    if identifier.startswith("arn:"):
        identifier = identifier.split(":log-group:", 1)[-1]
        return identifier[:-2] if identifier.endswith(":*") else identifier
    return identifier


def _logs(call: Request):
    from moto.logs.models import logs_backends

    op, req = call.operation, call.json()
    if op == "DescribeLogGroups":
        return [Check("logs:DescribeLogGroups", call.arn("logs", "log-group::log-stream:"))]
    if op in LOGS_TAG_OPS:
        arn = req.get("resourceArn") or ""
        name = _log_group_name(arn) if ":log-group:" in arn else None
    elif op in LOGS_GROUP_OPS | LOGS_STREAM_OPS:
        name = _log_group_name(req.get("logGroupName") or req.get("logGroupIdentifier") or "")
        stream = req.get("logStreamName", "") if op in LOGS_STREAM_OPS else ""
        arn = call.arn("logs", f"log-group:{name}:log-stream:{stream}")
    else:
        return None
    group = logs_backends[ACCOUNT_ID][call.region].groups.get(name) if name is not None else None
    request_tags = req.get("tags") if op in ("CreateLogGroup", "TagResource") else None
    keys = req.get("tagKeys") if op == "UntagResource" else None
    context = tag_context(getattr(group, "tags", None), request_tags, keys)
    out = [Check(f"logs:{op}", arn, context)]
    if op == "CreateLogGroup" and request_tags:
        out.append(Check("logs:TagResource", call.arn("logs", f"log-group:{name}"), context))
    return out


# ---- Lambda ---------------------------------------------------------------------------------

LAMBDA_OPS = {"CreateFunction", "ListFunctions", "GetFunctionConfiguration", "UpdateFunctionConfiguration",
              "UpdateFunctionCode", "AddPermission", "GetPolicy", "RemovePermission", "Invoke", "GetFunction",
              "DeleteFunction", "ListTags", "TagResource", "UntagResource"}


def _function_arn(call: Request, identifier: str) -> tuple[str, str, str]:
    """(ARN, name, region) of a function named by name, partial ARN or ARN, maybe qualified."""
    parts = identifier.split(":")
    partition, region, account = call.partition, call.region, ACCOUNT_ID
    if parts[0] == "arn" and len(parts) >= 7:
        partition, region, account, name, rest = parts[1], parts[3], parts[4], parts[6], parts[7:]
    elif len(parts) >= 3 and parts[1] == "function":
        account, name, rest = parts[0], parts[2], parts[3:]
    else:
        name, rest = parts[0], parts[1:]
    qualifier = (call.query.get("Qualifier") or rest or [""])[0]
    arn = f"arn:{partition}:lambda:{region}:{account}:function:{name}"
    return (f"{arn}:{qualifier}" if qualifier else arn), name, region


def _lambda(call: Request):
    from moto.awslambda.models import lambda_backends

    op, req = call.operation, call.json()
    if op not in LAMBDA_OPS:
        return None
    action = "lambda:InvokeFunction" if op == "Invoke" else f"lambda:{op}"
    if op == "ListFunctions":
        return [Check(action, "*")]
    if op in ("ListTags", "TagResource", "UntagResource"):
        identifier = call.path.split("/tags/", 1)[1]
    elif op == "CreateFunction":
        identifier = req.get("FunctionName") or ""
    else:
        identifier = call.path.split("/")[3]
    arn, name, region = _function_arn(call, identifier)
    try:
        tags = lambda_backends[ACCOUNT_ID][region].get_function(name).tags
    except Exception:  # no such function (yet): no resource tags
        tags = None
    request_tags = req.get("Tags") if op in ("CreateFunction", "TagResource") else None
    keys = call.query.get("tagKeys") if op == "UntagResource" else None
    context = tag_context(tags, request_tags, keys)
    out = [Check(action, arn, context)]
    if op == "CreateFunction" and request_tags:
        out.append(Check("lambda:TagResource", arn, context))
    if req.get("Role") and op in ("CreateFunction", "UpdateFunctionConfiguration"):
        out.append(Check("iam:PassRole", req["Role"], {"iam:PassedToService": "lambda.amazonaws.com"}))
    return out


# ---- API Gateway (REST) ---------------------------------------------------------------------

TAGGED_ARN = re.compile(r"^arn:[^:]+:apigateway:([^:]*)::(/.*)$")


def _apigateway_tags(region: str, path: str) -> dict | None:
    """The tags a (percent-decoded) path's resource is judged with: its own, or those it inherits (REST API →
    its resources, methods, integrations, deployments, stages…; a stage adds its own; usage
    plan → its keys); for /tags/{arn}, those of the tagged resource."""
    from moto.apigateway.models import apigateway_backends

    parts = path.strip("/").split("/")
    if parts[0] == "tags" and len(parts) > 1:
        m = TAGGED_ARN.match(path.split("/tags/", 1)[1])
        return _apigateway_tags(m.group(1), m.group(2)) if m else None
    if len(parts) < 2:
        return None
    backend = apigateway_backends[ACCOUNT_ID][region]
    owner = {"restapis": backend.apis, "apikeys": backend.keys, "usageplans": backend.usage_plans}.get(parts[0], {})
    found = owner.get(parts[1])
    if found is None:
        return None
    tags = dict(getattr(found, "tags", None) or {})
    if parts[0] == "restapis" and len(parts) > 3 and parts[2] == "stages" and parts[3] in found.stages:
        tags.update(getattr(found.stages[parts[3]], "tags", None) or {})
    return tags


def _apigateway(call: Request):
    parts = call.path.strip("/").split("/")
    creates = call.method == "POST" and (len(parts) == 1 or parts[2:3] == ["stages"])
    request_tags = call.json().get("tags") if creates or (call.method == "PUT" and parts[0] == "tags") else None
    keys = call.query.get("tagKeys") if call.method == "DELETE" and parts[0] == "tags" else None
    context = tag_context(_apigateway_tags(call.region, call.path), request_tags, keys)
    return [Check(f"apigateway:{call.method}", f"arn:{call.partition}:apigateway:{call.region}::{call.raw_path}", context)]


# ---- IAM and STS ----------------------------------------------------------------------------

IAM_ROLE_OPS = {"CreateRole", "DeleteRole", "GetRole", "UpdateRole", "UpdateRoleDescription", "UpdateAssumeRolePolicy",
                "PutRolePolicy", "GetRolePolicy", "DeleteRolePolicy", "ListRolePolicies", "AttachRolePolicy",
                "DetachRolePolicy", "ListAttachedRolePolicies", "PutRolePermissionsBoundary",
                "DeleteRolePermissionsBoundary", "TagRole", "UntagRole", "ListRoleTags", "ListInstanceProfilesForRole"}
IAM_USER_OPS = {"CreateUser", "DeleteUser", "GetUser", "UpdateUser", "PutUserPolicy", "GetUserPolicy", "DeleteUserPolicy",
                "ListUserPolicies", "AttachUserPolicy", "DetachUserPolicy", "ListAttachedUserPolicies",
                "PutUserPermissionsBoundary", "DeleteUserPermissionsBoundary", "CreateAccessKey", "DeleteAccessKey",
                "UpdateAccessKey", "ListAccessKeys", "ListGroupsForUser", "TagUser", "UntagUser", "ListUserTags"}
IAM_GROUP_OPS = {"CreateGroup", "DeleteGroup", "GetGroup", "PutGroupPolicy", "GetGroupPolicy", "DeleteGroupPolicy",
                 "ListGroupPolicies", "AttachGroupPolicy", "DetachGroupPolicy", "ListAttachedGroupPolicies",
                 "AddUserToGroup", "RemoveUserFromGroup"}
IAM_POLICY_OPS = {"CreatePolicy", "DeletePolicy", "GetPolicy", "GetPolicyVersion", "CreatePolicyVersion",
                  "DeletePolicyVersion", "ListPolicyVersions", "SetDefaultPolicyVersion", "ListEntitiesForPolicy",
                  "TagPolicy", "UntagPolicy", "ListPolicyTags"}
IAM_ACCOUNT_OPS = {"ListRoles", "ListUsers", "ListGroups", "ListPolicies", "GetAccountSummary",
                   "GetAccountAuthorizationDetails", "ListAccountAliases"}
# iam:PermissionsBoundary: the boundary the request sets, or the one the role or user has now.
BOUNDARY_IN_REQUEST = {"CreateRole", "PutRolePermissionsBoundary", "CreateUser", "PutUserPermissionsBoundary"}
BOUNDARY_OF_ENTITY = {"PutRolePolicy", "DeleteRolePolicy", "AttachRolePolicy", "DetachRolePolicy",
                      "DeleteRolePermissionsBoundary", "PutUserPolicy", "DeleteUserPolicy", "AttachUserPolicy",
                      "DetachUserPolicy", "DeleteUserPermissionsBoundary"}


def _form_list(form: dict, name: str) -> list[str]:
    found = [(int(k.rsplit(".", 1)[1]), v) for k, v in form.items()
             if k.startswith(f"{name}.member.") and k.rsplit(".", 1)[1].isdigit()]
    return [v for _, v in sorted(found)]


def _form_tags(form: dict) -> dict:
    tags = {}
    for i in range(1, 51):
        if f"Tags.member.{i}.Key" in form:
            tags[form[f"Tags.member.{i}.Key"]] = form.get(f"Tags.member.{i}.Value", "")
    return tags


def _iam(call: Request):
    from moto.iam.models import iam_backends

    op, form = call.operation, call.form()
    backend = iam_backends[ACCOUNT_ID][call.partition]
    iam_arn = f"arn:{call.partition}:iam::{ACCOUNT_ID}:"
    entity, resource_tags = None, None
    if op in IAM_ROLE_OPS:
        name = form.get("RoleName", "")
        entity = next((r for r in list(backend.roles.values()) if r.name == name), None)
        arn = entity.arn if entity else f"{iam_arn}role{form.get('Path') or '/'}{name}"
        if entity:
            resource_tags = {t["Key"]: t["Value"] for t in entity.tags or []}
    elif op in IAM_USER_OPS:
        name = form.get("UserName")
        entity = backend.users.get(name) if name else None
        arn = (f"{iam_arn}user{entity.path if entity else form.get('Path') or '/'}{name}" if name
               else call.caller_arn)
    elif op in IAM_GROUP_OPS:
        name = form.get("GroupName", "")
        group = backend.groups.get(name)
        arn = f"{iam_arn}group{group.path if group else form.get('Path') or '/'}{name}"
    elif op in IAM_POLICY_OPS:
        arn = form.get("PolicyArn") or f"{iam_arn}policy{form.get('Path') or '/'}{form.get('PolicyName', '')}"
    elif op in IAM_ACCOUNT_OPS:
        arn = "*"
    elif op == "SimulatePrincipalPolicy":  # on the user, group or role simulated
        arn = form.get("PolicySourceArn", "")
    else:
        return None
    keys = _form_list(form, "TagKeys") if op.startswith("Untag") else None
    context = tag_context(resource_tags, _form_tags(form), keys)
    if resource_tags:
        context.update({f"iam:ResourceTag/{k}": v for k, v in resource_tags.items()})
    boundary = (form.get("PermissionsBoundary") if op in BOUNDARY_IN_REQUEST
                else getattr(entity, "permissions_boundary_arn", None) if op in BOUNDARY_OF_ENTITY else None)
    if boundary:
        context["iam:PermissionsBoundary"] = boundary
    if form.get("PolicyArn") and op.startswith(("Attach", "Detach")):
        context["iam:PolicyARN"] = form["PolicyArn"]
    return [Check(f"iam:{op}", arn, context)]


def _sts(call: Request):
    from moto.iam.models import iam_backends

    if call.operation != "AssumeRole":
        return None
    form = call.form()
    arn = form.get("RoleArn", "")
    role = next((r for r in list(iam_backends[ACCOUNT_ID][call.partition].roles.values()) if r.arn == arn), None)
    context = {"sts:RoleSessionName": form.get("RoleSessionName", "")}
    if "ExternalId" in form:
        context["sts:ExternalId"] = form["ExternalId"]
    trust = role.assume_role_policy_document if role else '{"Statement": []}'
    return [Check("sts:AssumeRole", arn, context, trust=trust)]


# ---- S3 Vectors and SageMaker ---------------------------------------------------------------

S3VECTORS_OPS = {"CreateVectorBucket", "GetVectorBucket", "DeleteVectorBucket", "ListIndexes",
                 "PutVectorBucketPolicy", "GetVectorBucketPolicy", "DeleteVectorBucketPolicy", "CreateIndex",
                 "GetIndex", "DeleteIndex", "PutVectors", "GetVectors", "DeleteVectors", "ListVectors", "QueryVectors",
                 "UpdateIndexMode", "PutVectorBucketDefaultIndexMode"}


def _index_or_bucket_arn(call: Request, req: dict) -> str:
    if req.get("indexArn"):
        return req["indexArn"]
    bucket = req.get("vectorBucketArn") or call.arn("s3vectors", f"bucket/{req.get('vectorBucketName') or ''}")
    return f"{bucket}/index/{req['indexName']}" if req.get("indexName") else bucket


def _s3vectors(call: Request):
    op, req = call.operation, call.json()
    if op == "ListVectorBuckets":
        return [Check("s3vectors:ListVectorBuckets", "*")]
    if op in ("TagResource", "UntagResource", "ListTagsForResource"):
        return [Check(f"s3vectors:{op}", call.path.split("/tags/", 1)[1])]
    if op not in S3VECTORS_OPS:
        return None
    arn = _index_or_bucket_arn(call, req)
    creates = op in ("CreateVectorBucket", "CreateIndex")
    request_tags = req.get("tags") if creates and isinstance(req.get("tags"), dict) else None
    context = tag_context(request_tags=request_tags)
    encryption = req.get("encryptionConfiguration") if creates else None
    if isinstance(encryption, dict):
        context.update({f"s3vectors:{k}": encryption[k] for k in ("sseType", "kmsKeyArn") if encryption.get(k)})
    out = [Check(f"s3vectors:{op}", arn, context)]
    # Creating a bucket or an index with tags also needs TagResource on it.
    if request_tags:
        out.append(Check("s3vectors:TagResource", arn, context))
    # Reading stored vectors (QueryVectors with a filter or returnMetadata, ListVectors with
    # returnData or returnMetadata) also needs GetVectors.
    if (op == "QueryVectors" and (req.get("returnMetadata") or req.get("filter") is not None)) or (
            op == "ListVectors" and (req.get("returnData") or req.get("returnMetadata"))):
        out.append(Check("s3vectors:GetVectors", arn))
    return out


def _sagemaker(call: Request):
    op, req = call.operation, call.json()
    if op == "InvokeEndpoint":
        return [Check("sagemaker:InvokeEndpoint", call.arn("sagemaker", f"endpoint/{call.path.split('/')[2].lower()}"))]
    if op == "DescribeEndpoint":
        return [Check(f"sagemaker:{op}", call.arn("sagemaker", f"endpoint/{req.get('EndpointName', '').lower()}"))]
    if op == "DescribeEndpointConfig":
        name = req.get("EndpointConfigName", "").lower()
        return [Check(f"sagemaker:{op}", call.arn("sagemaker", f"endpoint-config/{name}"))]
    if op in ("ListEndpoints", "ListEndpointConfigs"):
        return [Check(f"sagemaker:{op}", "*")]
    return None


# ---- S3 (path-style requests; the sources `deployer sync s3://…` reads) ----------------------

S3_BUCKET_ACTIONS = {"CreateBucket": "s3:CreateBucket", "DeleteBucket": "s3:DeleteBucket",
                     "HeadBucket": "s3:ListBucket", "GetBucketLocation": "s3:GetBucketLocation",
                     "ListObjectsV2": "s3:ListBucket", "ListObjects": "s3:ListBucket"}
S3_OBJECT_ACTIONS = {"GetObject": "s3:GetObject", "HeadObject": "s3:GetObject", "PutObject": "s3:PutObject",
                     "DeleteObject": "s3:DeleteObject"}


def _s3(call: Request):
    """S3 ARNs name no region or account: `arn:aws:s3:::bucket`, `arn:aws:s3:::bucket/key`.
    Listing is judged with the `s3:prefix`, `s3:delimiter` and `s3:max-keys` condition keys."""
    op = call.operation
    bucket, _, key = call.path.lstrip("/").partition("/")
    if op == "ListBuckets":
        return [Check("s3:ListAllMyBuckets", "*")]
    if op in S3_BUCKET_ACTIONS:
        context = {}
        if op.startswith("ListObjects"):
            for name in ("prefix", "delimiter", "max-keys"):
                value = call.query.get(name, [None])[0]
                if value is not None:
                    context[f"s3:{name}"] = value
        return [Check(S3_BUCKET_ACTIONS[op], f"arn:{call.partition}:s3:::{bucket}", context)]
    if op in S3_OBJECT_ACTIONS:
        return [Check(S3_OBJECT_ACTIONS[op], f"arn:{call.partition}:s3:::{bucket}/{key}")]
    return None


SERVICES = {"s3": _s3, "logs": _logs, "lambda": _lambda, "apigateway": _apigateway, "iam": _iam, "sts": _sts,
            "s3vectors": _s3vectors, "sagemaker": _sagemaker}


def checks(service: str, operation: str, region: str, environ, body: bytes, caller_arn: str) -> list[Check] | None:
    """The checks AWS makes for this call, or None if this layer does not know the call."""
    mapping = SERVICES.get(service)
    return mapping(Request(operation, region, environ, body, caller_arn)) if mapping else None
