"""IAM enforcement (`--enforce-iam`): this layer authenticates and authorizes every AWS call itself.

moto's own enforcement stays off; moto only keeps the users, roles, policies and keys.

Authentication (SigV4, every request, GET included): the signature is recomputed from the raw
request target (`RAW_URI`): method; canonical URI = the raw path with dot and empty segments
removed, percent-encoded once more (double encoding, as botocore and the Rust SDK sign every
service but S3; S3 alone is signed with the raw path as is); canonical query = the raw query's
pairs decoded, re-encoded per RFC 3986 and sorted; the headers named in SignedHeaders (values
trimmed, repeats joined by commas); the `x-amz-content-sha256` header or the body's sha256. The
secret is that of the access key in moto's IAM (users' keys; STS AssumeRole session keys, whose
`X-Amz-Security-Token` must match), looked up in the signing region's partition first, then in
the other two (so the administrator's keys also sign for aws-cn and aws-us-gov regions).
No Authorization header → MissingAuthenticationToken(Exception); unparsable →
IncompleteSignature(Exception); unknown or inactive key, or a wrong session token →
InvalidClientTokenId (IAM, STS) / UnrecognizedClientException; mismatch → SignatureDoesNotMatch
(IAM, STS) / InvalidSignatureException. The request time is not checked against the clock.

Principals and policies: an IAM user is judged by its inline, attached managed and groups'
(inline and attached) policies; an assumed role by the role's inline and attached policies,
intersected with the role's permissions boundary and the session policy given to AssumeRole, if
any. Explicit Deny anywhere wins; see `policy` for the evaluator (operators, wildcards, missing
keys). Global keys: aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType, aws:userid,
aws:username (users), aws:RequestedRegion. STS GetCallerIdentity is always allowed. A call this
layer has no mapping for is denied, naming the missing mapping.

What each call is judged against (`actions`; P = partition of the signing region, R = region,
A = account):
- CloudWatch Logs: CreateLogGroup, DeleteLogGroup, Put/DeleteRetentionPolicy, DescribeLogStreams,
  FilterLogEvents on `arn:P:logs:R:A:log-group:NAME:log-stream:`; CreateLogStream,
  DeleteLogStream, PutLogEvents, GetLogEvents on `…:log-group:NAME:log-stream:STREAM`;
  TagResource, UntagResource, ListTagsForResource on the request's resourceArn (the bare
  `…:log-group:NAME`); DescribeLogGroups on `arn:P:logs:R:A:log-group::log-stream:`. This is the
  resource AWS names in its denials; the documented policy forms `…:log-group:NAME:*` (every action
  but tagging), `…:log-group:NAME` (tagging) and `…:log-group:*` (DescribeLogGroups) match it,
  while a bare `…:log-group:NAME` does not allow CreateLogGroup or PutRetentionPolicy. CreateLogGroup
  with tags also needs logs:TagResource on the bare ARN (AWS also accepts the deprecated
  logs:TagLogGroup there; this layer does not). aws:ResourceTag/… of an existing log group,
  aws:RequestTag/… and aws:TagKeys on CreateLogGroup and TagResource (UntagResource: TagKeys).
- Lambda: `arn:P:lambda:R:A:function:NAME` (`:QUALIFIER` appended when the name, partial or full
  ARN in the path, or the Qualifier parameter, has one; a full ARN's own region, account and
  partition are kept); Invoke is lambda:InvokeFunction; ListFunctions is on `*`; ListTags,
  TagResource, UntagResource on the ARN in the path. CreateFunction, and UpdateFunctionConfiguration
  that sets Role, also need iam:PassRole on the role ARN with iam:PassedToService =
  lambda.amazonaws.com; CreateFunction with Tags also lambda:TagResource. aws:ResourceTag/… of an
  existing function, aws:RequestTag/… and aws:TagKeys on CreateFunction and TagResource
  (UntagResource: TagKeys). (Not modelled: AWS leaves the Tags out of GetFunction's answer unless
  lambda:ListTags is allowed too.)
- API Gateway (REST): action `apigateway:<HTTP verb>` on `arn:P:apigateway:R::<raw request path>`
  (e.g. `arn:aws:apigateway:us-east-1::/restapis/abc/resources/def`; tags:
  `…::/tags/<url-encoded ARN>`). As the API Gateway developer guide documents for REST APIs:
  aws:ResourceTag/… are the tags of the resource the path names, and the children of a REST API
  (resources, methods, integrations, deployments, stages, authorizers, models, …) are judged with
  the REST API's tags, a stage adding its own; API keys and usage plans carry their own tags,
  usage-plan keys inherit the plan's; for /tags/{arn} the tagged resource's tags.
  aws:RequestTag/… and aws:TagKeys come from the `tags` of a POST that creates a REST API, API
  key, usage plan or stage, and of TagResource (PUT /tags); UntagResource (DELETE /tags) sets
  aws:TagKeys from tagKeys.
- IAM: role actions on `arn:P:iam::A:role/PATH/NAME` (the existing role's ARN, else the request's
  Path and RoleName, so CreateRole is judged before the role exists); user, group and managed
  policy actions likewise on `user/…`, `group/…`, `policy/…` ARNs; List{Roles,Users,Groups,Policies}
  and account summaries on `*`. iam:PermissionsBoundary: the request's PermissionsBoundary on
  CreateRole, PutRolePermissionsBoundary (and the user equivalents); the role's current boundary on
  PutRolePolicy, DeleteRolePolicy, AttachRolePolicy, DetachRolePolicy and
  DeleteRolePermissionsBoundary (user equivalents: moto keeps no user boundaries). iam:PolicyARN on
  Attach/Detach*Policy; SimulatePrincipalPolicy on the simulated principal's ARN (PolicySourceArn);
  aws:ResourceTag/… and iam:ResourceTag/… of an existing role;
  aws:RequestTag/… and aws:TagKeys from Tags on CreateRole, TagRole, CreateUser, TagUser, …
- STS AssumeRole: sts:AssumeRole on the role ARN, and the role's trust policy must allow the caller
  (Principal `*`, the caller's ARN, its role's ARN, the account root or id); a trust policy that
  names the caller's own ARN suffices without an identity policy, as within one account on AWS.
- S3 Vectors: bucket actions on `arn:P:s3vectors:R:A:bucket/BUCKET`, index and vector actions on
  `…:bucket/BUCKET/index/INDEX` (or the ARNs the request gives), ListVectorBuckets on `*`, tag
  actions on the ARN in the path (UpdateIndexMode: the index; PutVectorBucketDefaultIndexMode:
  the bucket). QueryVectors with a filter or returnMetadata, and ListVectors with returnData or
  returnMetadata, also need s3vectors:GetVectors on the index; CreateVectorBucket and CreateIndex
  with tags also need s3vectors:TagResource on the new ARN (aws:RequestTag/…, aws:TagKeys, and
  s3vectors:sseType / s3vectors:kmsKeyArn from the request's encryptionConfiguration).
- SageMaker: InvokeEndpoint and DescribeEndpoint on `arn:P:sagemaker:R:A:endpoint/NAME`,
  DescribeEndpointConfig on `…:endpoint-config/NAME` (names lowercased), List* on `*`.

Denials answer in the service's shape: IAM/STS XML `AccessDenied`, the others
`AccessDeniedException`; HTTP 400 for the awsJson services (CloudWatch Logs, SageMaker's control
plane), 403 otherwise. Message: `User: <caller ARN> is not authorized to perform: <action> on
resource: <ARN> because no identity-based policy allows the <action> action` (or `… because no
permissions boundary allows …`, `… with an explicit deny in an identity-based policy`, …).
"""

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote_to_bytes

from .actions import Check, checks, partition_of
from .common import ACCOUNT_ID, QUERY_PROTOCOL, Response, aws_error
from .policy import decide

AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request,\s*"
    r"SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})$")
PARTITIONS = {"aws", "aws-cn", "aws-us-gov"}
AUTH_ERRORS = {  # kind -> (query-protocol code, other code, message)
    "missing": ("MissingAuthenticationToken", "MissingAuthenticationTokenException", "Missing Authentication Token"),
    "incomplete": ("IncompleteSignature", "IncompleteSignatureException",
                   "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' (AWS4-HMAC-SHA256)."),
    "token": ("InvalidClientTokenId", "UnrecognizedClientException",
              "The security token included in the request is invalid."),
    "signature": ("SignatureDoesNotMatch", "InvalidSignatureException",
                  "The request signature we calculated does not match the signature you provided. Check your AWS "
                  "Secret Access Key and signing method. Consult the service documentation for details."),
}


@dataclass
class Caller:
    arn: str
    policies: list
    boundary: object = None  # a policy document, if the role has a permissions boundary
    session: object = None  # the session policy given to AssumeRole, if any
    identifiers: set = field(default_factory=set)  # what a trust policy's Principal may name
    context: dict = field(default_factory=dict)


def _status(environ) -> int:
    # awsJson protocols (X-Amz-Target) answer client errors with 400, the others with 403.
    return 400 if environ.get("HTTP_X_AMZ_TARGET") else 403


def _auth_error(service: str, environ, kind: str) -> Response:
    query_code, code, message = AUTH_ERRORS[kind]
    return aws_error(service, _status(environ), query_code if service in QUERY_PROTOCOL else code, message)


def _denied(service: str, environ, message: str) -> Response:
    code = "AccessDenied" if service in QUERY_PROTOCOL or service == "s3" else "AccessDeniedException"
    return aws_error(service, _status(environ), code, message)


# ---- authentication ---------------------------------------------------------------------------

def _managed(policy) -> str:
    return next(v.document for v in policy.versions if v.is_default)


def _caller_of_key(key_id: str, token: str, partition: str):
    """(secret, Caller) of an access key, or None if the key or its session token is not valid."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    iam = iam_backends[ACCOUNT_ID][partition]
    root = f"arn:{partition}:iam::{ACCOUNT_ID}:root"
    for user in list(iam.users.values()):
        key = next((k for k in user.access_keys if k.access_key_id == key_id), None)
        if key is None:
            continue
        if token or key.status != "Active":
            return None
        arn = f"arn:{partition}:iam::{ACCOUNT_ID}:user{user.path}{user.name}"
        policies = list(user.policies.values()) + [_managed(p) for p in user.managed_policies.values()]
        for group in iam.get_groups_for_user(user.name):
            policies += list(group.policies.values()) + [_managed(p) for p in group.managed_policies.values()]
        context = {"aws:PrincipalArn": arn, "aws:PrincipalType": "User", "aws:username": user.name,
                   "aws:userid": user.id}
        return key.secret_access_key, Caller(arn, policies, identifiers={arn, root, ACCOUNT_ID}, context=context)
    for session in list(sts_backends[ACCOUNT_ID][partition].assumed_roles):
        if session.access_key_id != key_id:
            continue
        if token != session.session_token:
            return None
        role = next((r for r in list(iam.roles.values()) if r.arn == session.role_arn), None)
        caller = _role_caller(iam, partition, role, session.role_arn, session.session_name, session.policy or None)
        return session.secret_access_key, caller
    return None


def role_policies(iam, role) -> tuple:
    """(identity policy documents, boundary document or None) of a role, as stored now."""
    policies = list(role.policies.values()) + [_managed(p) for p in role.managed_policies.values()]
    boundary = None
    if role.permissions_boundary_arn:
        found = iam.managed_policies.get(role.permissions_boundary_arn)
        boundary = _managed(found) if found else {"Statement": []}
    return policies, boundary


def _role_caller(iam, partition: str, role, role_arn: str, session_name: str, session_policy=None) -> Caller:
    from .iam import in_force

    role_name = role_arn.rsplit("/", 1)[-1]
    arn = f"arn:{partition}:sts::{ACCOUNT_ID}:assumed-role/{role_name}/{session_name}"
    policies, boundary = [], None
    if role is not None:
        # IAM propagates changes late: sessions are judged by what is in force (`iam`).
        policies, boundary = in_force(role.name, role_policies(iam, role))
    context = {"aws:PrincipalArn": role_arn, "aws:PrincipalType": "AssumedRole",
               "aws:userid": f"{role.id if role else ''}:{session_name}"}
    identifiers = {arn, role_arn, f"arn:{partition}:iam::{ACCOUNT_ID}:root", ACCOUNT_ID}
    return Caller(arn, policies, boundary, session_policy, identifiers, context)


def role_session(role_arn: str, session_name: str, region: str) -> Caller | None:
    """The principal a service acting with this role is (a session of it named `session_name`,
    no session policy), as of now; None if the role does not exist. Lambda delivers a function's
    logs as its execution role."""
    from moto.iam.models import iam_backends

    partition = role_arn.split(":")[1] if role_arn.startswith("arn:") and role_arn.count(":") >= 5 else "aws"
    if partition not in PARTITIONS:
        return None
    iam = iam_backends[ACCOUNT_ID][partition]
    role = next((r for r in list(iam.roles.values()) if r.arn == role_arn), None)
    if role is None:
        return None
    caller = _role_caller(iam, partition, role, role_arn, session_name)
    caller.context.update({"aws:PrincipalAccount": ACCOUNT_ID, "aws:RequestedRegion": region})
    return caller


def allowed(caller: Caller, action: str, resource: str, context: dict | None = None) -> bool:
    """Whether the caller's policies allow the action on the resource (see `judge`)."""
    return judge(caller, Check(action, resource, context or {})) is None


def _canonical_path(service: str, path: str) -> str:
    if service == "s3":
        return path or "/"
    segments = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    normalized = "/" + "/".join(segments)
    if path.endswith(("/", "/.", "/..")) and segments:
        normalized += "/"
    return quote(normalized.encode("latin-1"), safe="/~")


def _canonical_query(query: str) -> str:
    pairs = []
    for part in query.split("&") if query else []:
        key, _, value = part.partition("=")
        pairs.append((quote(unquote_to_bytes(key.encode("latin-1")), safe="-_.~"),
                      quote(unquote_to_bytes(value.encode("latin-1")), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _header(environ, name: str) -> str:
    key = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}.get(name) \
        or "HTTP_" + name.upper().replace("-", "_")
    return " ".join(str(environ.get(key, "")).split())


def signature(environ, body: bytes, secret: str, date: str, region: str, service: str, signed_headers: str) -> str:
    """The SigV4 signature of this request, computed with the given secret and scope."""
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(environ.get("PATH_INFO", ""))
    if "://" in target.split("?", 1)[0]:  # absolute-form request target
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    path, _, query = target.partition("?")
    headers = signed_headers.split(";")
    canonical = "\n".join([
        environ.get("REQUEST_METHOD", "").upper(),
        _canonical_path(service, path),
        _canonical_query(query),
        "".join(f"{name}:{_header(environ, name)}\n" for name in headers),
        signed_headers,
        environ.get("HTTP_X_AMZ_CONTENT_SHA256") or hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", environ.get("HTTP_X_AMZ_DATE", ""), scope,
                         hashlib.sha256(canonical.encode("latin-1", "replace")).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def identify(environ, body: bytes) -> tuple[Caller | None, str, str]:
    """(caller, "", scope) of a request whose SigV4 signature holds, else (None, kind, scope):
    kind is a key of AUTH_ERRORS, scope the credential scope's "region/service" as signed."""
    header = environ.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None, "missing", ""
    m = AUTHORIZATION.match(header.strip())
    if not m:
        return None, "incomplete", ""
    key_id, date, region, scope_service, signed_headers, given = m.groups()
    scope = f"{region}/{scope_service}"
    # The signing region's partition first; then the others, so the administrator's keys (made
    # in `aws`) also sign requests to aws-cn and aws-us-gov regions.
    token, first = environ.get("HTTP_X_AMZ_SECURITY_TOKEN", ""), partition_of(region)
    for partition in (first, *sorted(PARTITIONS - {first})):
        found = _caller_of_key(key_id, token, partition)
        if found is not None:
            break
    else:
        return None, "token", scope
    secret, caller = found
    if not hmac.compare_digest(signature(environ, body, secret, date, region, scope_service, signed_headers), given):
        return None, "signature", scope
    caller.context.update({"aws:PrincipalAccount": ACCOUNT_ID, "aws:RequestedRegion": region})
    return caller, "", scope


def authenticate(service: str, environ, body: bytes) -> Caller | Response:
    caller, kind, _ = identify(environ, body)
    return caller if caller is not None else _auth_error(service, environ, kind)


def auth_message(kind: str) -> str:
    """AWS's words for an authentication failure of `identify`."""
    return AUTH_ERRORS[kind][2]


# ---- authorization ----------------------------------------------------------------------------

def judge(caller: Caller, check: Check) -> str | None:
    """None when the check is allowed, else why not (the end of AWS's denial message)."""
    action, resource = check.action, check.resource
    context = {k.lower(): v for k, v in {**caller.context, **check.context}.items()}
    identity = decide(caller.policies, action, resource, context)
    limits = [(decide([doc], action, resource, context), name)
              for doc, name in ((caller.boundary, "permissions boundary"), (caller.session, "session policy"))
              if doc is not None]
    trust = None if check.trust is None else decide([check.trust], action, resource, context, caller.identifiers)
    if identity == "deny":
        return "with an explicit deny in an identity-based policy"
    for verdict, name in limits:
        if verdict == "deny":
            return f"with an explicit deny in a {name}"
    if trust == "deny":
        return "with an explicit deny in a resource-based policy"
    if trust is not None:
        if trust != "allow":
            return f"because no resource-based policy allows the {action} action"
        if decide([check.trust], action, resource, context, {caller.arn}) == "allow":
            return None
    for verdict, name in limits:
        if verdict != "allow":
            return f"because no {name} allows the {action} action"
    if identity != "allow":
        return f"because no identity-based policy allows the {action} action"
    return None


def authorize(service: str, operation: str, region: str, environ, body: bytes) -> Response | None:
    """None when the call is authentic and allowed, else the error to answer."""
    caller = authenticate(service, environ, body)
    if isinstance(caller, Response):
        return caller
    if (service, operation) == ("sts", "GetCallerIdentity"):
        return None
    todo = checks(service, operation, region, environ, body, caller.arn)
    if todo is None:
        return _denied(service, environ, f"User: {caller.arn} is not authorized to perform: {service}:{operation}: "
                                         f"the local AWS has no IAM mapping for {service} {operation} (denied)")
    for check in todo:
        reason = judge(caller, check)
        if reason:
            return _denied(service, environ, f"User: {caller.arn} is not authorized to perform: {check.action} "
                                             f"on resource: {check.resource} {reason}")
    return None
