"""iam:SimulatePrincipalPolicy, answered with the local AWS's own policy evaluator (`policy`).

The principal (`PolicySourceArn`) is a user (its inline and attached policies and those of its
groups), a group, or a role (its inline and attached policies); `PolicyInputList` adds policies
(source type `none`, id `PolicyInputList.N`). A role's permissions boundary limits the result
(`PermissionsBoundaryPolicyInputList` replaces it). Each action in `ActionNames` is judged on each
of `ResourceArns` (default `*`) with the `ContextEntries` as the request context, as `auth.judge`
judges real calls: an explicit Deny anywhere is `explicitDeny`; else an Allow in the identity
policies (and in the boundary, if any) is `allowed`; else `implicitDeny`.

Answer (current IAM behaviour): one `EvaluationResult` per action. With `ResourceArns`, each
resource's decision is in `ResourceSpecificResults` and the top-level decision is the most
restrictive of them (`EvalResourceName` names the first resource); without, the result is for
`*`. `MatchedStatements` lists the statements that decided (only the Deny statements when one
denies), each with its policy's id and type (`user`, `group`, `role`, `aws-managed`,
`user-managed`, `none`) and the 1-based line and column where the statement's `{` and `}` are.
`MissingContextValues` names the condition keys of statements that match the action and
resource but that the context does not provide. `PermissionsBoundaryDecisionDetail` is present
when a boundary applies. `MaxItems`/`Marker` page the results.
Errors: a missing `PolicySourceArn` or `ActionNames` is ValidationError; an ARN that names no
user, group or role of this account is InvalidInput; one that names a missing entity NoSuchEntity.
"""

import json
import uuid
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from .common import ACCOUNT_ID, Response, aws_error
from .policy import _values, parse, statement_applies

ORDER = {"allowed": 0, "implicitDeny": 1, "explicitDeny": 2}
LIST_TYPES = {"stringList", "numericList", "booleanList", "ipList", "binaryList", "dateList"}


def _form(environ, body: bytes) -> dict:
    form = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
    try:
        form.update({k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()})
    except UnicodeDecodeError:
        pass
    return form


def _members(form: dict, prefix: str) -> list[str]:
    found = [(int(k[len(prefix) + 8:]), v) for k, v in form.items()
             if k.startswith(prefix + ".member.") and k[len(prefix) + 8:].isdigit()]
    return [v for _, v in sorted(found)]


def _context(form: dict) -> dict:
    context = {}
    i = 1
    while f"ContextEntries.member.{i}.ContextKeyName" in form:
        base = f"ContextEntries.member.{i}."
        values = _members(form, base + "ContextKeyValues")
        kind = form.get(base + "ContextKeyType", "string")
        if values:
            context[form[base + "ContextKeyName"].lower()] = values if kind in LIST_TYPES else values[0]
        i += 1
    return context


def _text(document) -> str:
    if isinstance(document, dict):
        return json.dumps(document, indent=2)
    try:
        json.loads(document)
        return document
    except ValueError:
        return unquote(document)


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def statement_positions(text: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where each statement of a policy document starts and ends ((line, column) of `{`, `}`)."""
    decoder = json.JSONDecoder()

    def skip(i):
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    out = []
    try:
        i = skip(0)
        if text[i] != "{":
            return out
        i = skip(i + 1)
        while i < len(text) and text[i] != "}":
            key, i = decoder.raw_decode(text, i)
            i = skip(skip(i) + 1)  # past the colon
            if key != "Statement":
                _, i = decoder.raw_decode(text, i)
            else:
                items = text[i] == "["
                j = skip(i + 1) if items else i
                while j < len(text) and text[j] != "]":
                    _, end = decoder.raw_decode(text, j)
                    out.append((_position(text, j), _position(text, end - 1)))
                    if not items:
                        break
                    j = skip(end)
                    j = skip(j + 1) if j < len(text) and text[j] == "," else j
                _, i = decoder.raw_decode(text, i)
            i = skip(i)
            i = skip(i + 1) if i < len(text) and text[i] == "," else i
    except (ValueError, IndexError):
        return out
    return out


class Source:
    """One policy document the simulation includes."""

    def __init__(self, document, source_id: str, source_type: str):
        self.id, self.type = source_id, source_type
        self.text = _text(document)
        self.statements = [s for s in _values(parse(self.text).get("Statement", [])) if isinstance(s, dict)]
        positions = statement_positions(self.text)
        self.positions = positions if len(positions) == len(self.statements) else [None] * len(self.statements)

    def matched(self, index: int) -> dict:
        out = {"SourcePolicyId": self.id, "SourcePolicyType": self.type}
        if self.positions[index]:
            (sl, sc), (el, ec) = self.positions[index]
            out.update({"StartPosition": {"Line": sl, "Column": sc}, "EndPosition": {"Line": el, "Column": ec}})
        return out


def _managed(policy):
    return next(v.document for v in policy.versions if v.is_default)


def _managed_sources(policies) -> list[Source]:
    return [Source(_managed(p), p.name, "aws-managed" if ":iam::aws:policy/" in p.arn else "user-managed")
            for p in policies]


def principal_sources(iam, arn: str):
    """(sources, boundary Source or None) of a user, group or role ARN; raises Response."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or parts[4] != ACCOUNT_ID:
        raise aws_error("iam", 400, "InvalidInput", f"Invalid ARN: {arn}")
    kind, _, rest = parts[5].partition("/")
    name = rest.rsplit("/", 1)[-1]
    if kind == "user":
        user = iam.users.get(name)
        if user is None or user.arn != arn:
            raise aws_error("iam", 404, "NoSuchEntity", f"The user with name {name} cannot be found.")
        sources = [Source(d, n, "user") for n, d in user.policies.items()]
        sources += _managed_sources(user.managed_policies.values())
        for group in iam.get_groups_for_user(user.name):
            sources += [Source(d, n, "group") for n, d in group.policies.items()]
            sources += _managed_sources(group.managed_policies.values())
        return sources, None
    if kind == "group":
        group = iam.groups.get(name)
        if group is None or group.arn != arn:
            raise aws_error("iam", 404, "NoSuchEntity", f"The group with name {name} cannot be found.")
        return [Source(d, n, "group") for n, d in group.policies.items()] + \
            _managed_sources(group.managed_policies.values()), None
    if kind == "role":
        role = next((r for r in list(iam.roles.values()) if r.arn == arn), None)
        if role is None:
            raise aws_error("iam", 404, "NoSuchEntity", f"The role with name {name} cannot be found.")
        sources = [Source(d, n, "role") for n, d in role.policies.items()]
        sources += _managed_sources(role.managed_policies.values())
        boundary = None
        if role.permissions_boundary_arn:
            found = iam.managed_policies.get(role.permissions_boundary_arn)
            boundary = _managed_sources([found])[0] if found else Source({"Statement": []}, "", "user-managed")
        return sources, boundary
    raise aws_error("iam", 400, "InvalidInput", f"Invalid ARN: {arn}")


def _matches(sources, action, resource, context, effect) -> list[dict]:
    return [src.matched(i) for src in sources for i, s in enumerate(src.statements)
            if s.get("Effect") == effect and statement_applies(s, action, resource, context)]


def _missing(sources, action, resource, context) -> list[str]:
    keys = []
    for src in sources:
        for s in src.statements:
            conditions = s.get("Condition")
            if not isinstance(conditions, dict) or not statement_applies(
                    {k: v for k, v in s.items() if k != "Condition"}, action, resource, {}):
                continue
            for block in conditions.values():
                for key in block if isinstance(block, dict) else {}:
                    if key.lower() not in context and key not in keys:
                        keys.append(key)
    return keys


def evaluate(sources, boundary, action: str, resource: str, context: dict) -> dict:
    """The decision on one action and resource, with what decided it."""
    denies = _matches(sources, action, resource, context, "Deny")
    allows = _matches(sources, action, resource, context, "Allow")
    result = {"decision": "allowed" if allows else "implicitDeny", "matched": allows,
              "missing": _missing(sources + ([boundary] if boundary else []), action, resource, context)}
    if boundary is not None:
        b_denies = _matches([boundary], action, resource, context, "Deny")
        b_allows = _matches([boundary], action, resource, context, "Allow")
        result["boundary"] = bool(b_allows) and not b_denies
        denies += b_denies
        if result["decision"] == "allowed" and not result["boundary"]:
            result.update(decision="implicitDeny", matched=[])
    if denies:
        result.update(decision="explicitDeny", matched=denies)
    return result


def _xml(value, tag: str) -> str:
    if isinstance(value, dict):
        inner = "".join(_xml(v, k) for k, v in value.items())
    elif isinstance(value, list):
        inner = "".join(_xml(v, "member") for v in value)
    elif isinstance(value, bool):
        inner = "true" if value else "false"
    else:
        inner = escape(str(value))
    return f"<{tag}>{inner}</{tag}>"


def _result_fields(r: dict) -> dict:
    out = {"MatchedStatements": r["matched"], "MissingContextValues": r["missing"]}
    if "boundary" in r:
        out["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": r["boundary"]}
    return out


def simulate_principal_policy(environ, body: bytes) -> Response:
    from moto.iam.models import iam_backends

    form = _form(environ, body)
    source_arn = form.get("PolicySourceArn")
    actions = _members(form, "ActionNames")
    if not source_arn or not actions:
        field = "policySourceArn" if not source_arn else "actionNames"
        return aws_error("iam", 400, "ValidationError",
                         f"1 validation error detected: Value null at '{field}' failed to satisfy constraint: "
                         f"Member must not be null")
    partition = source_arn.split(":")[1] if source_arn.count(":") >= 5 else "aws"
    if partition not in ("aws", "aws-cn", "aws-us-gov"):
        return aws_error("iam", 400, "InvalidInput", f"Invalid ARN: {source_arn}")
    try:
        sources, boundary = principal_sources(iam_backends[ACCOUNT_ID][partition], source_arn)
    except Response as denied:
        return denied
    sources += [Source(d, f"PolicyInputList.{i}", "none") for i, d in enumerate(_members(form, "PolicyInputList"), 1)]
    boundaries = _members(form, "PermissionsBoundaryPolicyInputList")
    if boundaries:
        boundary = Source(boundaries[0], "PermissionsBoundaryPolicyInputList.1", "none")
    resources = _members(form, "ResourceArns")
    context = _context(form)

    results = []
    for action in actions:
        if not resources:
            r = evaluate(sources, boundary, action, "*", context)
            results.append({"EvalActionName": action, "EvalResourceName": "*", "EvalDecision": r["decision"],
                            **_result_fields(r)})
            continue
        per = [(arn, evaluate(sources, boundary, action, arn, context)) for arn in resources]
        decision = max((r["decision"] for _, r in per), key=ORDER.get)
        matched, missing = [], []
        for _, r in per:
            matched += [m for m in r["matched"] if r["decision"] == decision and m not in matched]
            missing += [k for k in r["missing"] if k not in missing]
        top = {"EvalActionName": action, "EvalResourceName": resources[0], "EvalDecision": decision,
               "MatchedStatements": matched, "MissingContextValues": missing}
        if boundary is not None:
            top["PermissionsBoundaryDecisionDetail"] = {
                "AllowedByPermissionsBoundary": all(r["boundary"] for _, r in per)}
        top["ResourceSpecificResults"] = [{"EvalResourceName": arn, "EvalResourceDecision": r["decision"],
                                           **_result_fields(r)} for arn, r in per]
        top["EvalDecisionDetails"] = {}
        results.append(top)

    try:
        start = int(form.get("Marker") or 0)
        limit = int(form.get("MaxItems") or 100)
    except ValueError:
        return aws_error("iam", 400, "InvalidInput", "Invalid Marker or MaxItems")
    if not 1 <= limit <= 1000:
        return aws_error("iam", 400, "ValidationError",
                         f"1 validation error detected: Value '{limit}' at 'maxItems' failed to satisfy constraint: "
                         f"Member must have value between 1 and 1000")
    page = results[start:start + limit]
    truncated = start + limit < len(results)
    inner = _xml(truncated, "IsTruncated") + _xml(page, "EvaluationResults")
    if truncated:
        inner += _xml(str(start + limit), "Marker")
    request_id = str(uuid.uuid4())
    xml = (f'<SimulatePrincipalPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
           f"<SimulatePrincipalPolicyResult>{inner}</SimulatePrincipalPolicyResult>"
           f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
           f"</SimulatePrincipalPolicyResponse>")
    return Response(200, xml, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id})
