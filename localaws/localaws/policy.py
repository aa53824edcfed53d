"""IAM policy evaluation, as the IAM User Guide documents it, for the local AWS's `--enforce-iam`.

`decide` answers "deny", "allow" or "none" for one action on one resource against a list of
policy documents: any matching Deny statement wins, else any matching Allow allows.

- `Action`/`NotAction`: case-insensitive, `*` and `?` wildcards.
- `Resource`/`NotResource`: case-sensitive; `*` alone matches everything (also the resource `*`
  of actions without resource-level permissions); otherwise the six colon-separated parts of the
  ARN are matched one by one (the last part, the resource id, may contain colons), each with
  `*`/`?` wildcards. The ARN condition operators match the same way.
- `Condition`: all operators and all keys must hold; several values of one key are alternatives
  (for a negated operator: none of them may match).
  Operators: StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase,
  StringLike, StringNotLike, ArnEquals, ArnLike, ArnNotEquals, ArnNotLike, Bool, Null, each
  (but Null) with the `IfExists` suffix and the `ForAnyValue:`/`ForAllValues:` prefixes. A key
  missing from the request fails a positive operator and satisfies a negated one (`StringNot…`,
  `ArnNot…`), as AWS documents; `…IfExists` and `ForAllValues:` hold on a missing key,
  `ForAnyValue:` does not. An operator not listed here (Numeric…, Date…, IpAddress, …) fails
  closed: a statement using it never allows, and denies if its other conditions hold. Condition
  keys are case-insensitive, values case-sensitive (except the IgnoreCase operators and Bool).
- `Principal` is only looked at for trust policies (`principals` given): `*`, or `AWS` naming one
  of the caller's identifiers. `NotPrincipal` and policy variables (`${…}`) are not supported:
  such statements never apply and such patterns only match themselves literally.
"""

import json
import re
from functools import lru_cache
from urllib.parse import unquote


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _values(value) -> list:
    return value if isinstance(value, list) else [value]


def like(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return _glob(str(pattern), ignore_case).fullmatch(value) is not None


def arn_like(pattern: str, arn: str) -> bool:
    if pattern == "*":
        return True
    want, have = str(pattern).split(":", 5), arn.split(":", 5)
    return len(want) == len(have) == 6 and all(like(w, h) for w, h in zip(want, have))


# operator -> (does one policy value match one request value, is the operator negated)
OPERATORS = {
    "StringEquals": (lambda p, v: str(p) == v, False),
    "StringNotEquals": (lambda p, v: str(p) == v, True),
    "StringEqualsIgnoreCase": (lambda p, v: str(p).lower() == v.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda p, v: str(p).lower() == v.lower(), True),
    "StringLike": (like, False),
    "StringNotLike": (like, True),
    "ArnEquals": (arn_like, False),
    "ArnLike": (arn_like, False),
    "ArnNotEquals": (arn_like, True),
    "ArnNotLike": (arn_like, True),
    "Bool": (lambda p, v: str(p).lower() == v.lower(), False),
}


def condition_holds(operator: str, key: str, wanted: list, context: dict) -> bool | None:
    """Whether the condition holds; None for an operator this evaluator does not know."""
    present = context.get(key.lower())
    if operator == "Null":
        return any((str(w).lower() == "true") == (present is None) for w in wanted)
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    test, negated = OPERATORS.get(base[: -len("IfExists")] if if_exists else base, (None, False))
    if test is None or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        return None
    if present is None:
        return if_exists or qualifier == "ForAllValues" or (negated and not qualifier)

    def matches(value: str) -> bool:
        return any(test(w, value) for w in wanted) != negated

    values = _values(present)
    if qualifier == "ForAllValues":
        return all(matches(v) for v in values)
    if qualifier == "ForAnyValue":
        return any(matches(v) for v in values)
    hit = any(test(w, v) for w in wanted for v in values)
    return hit != negated


def _principal_matches(principal, identifiers: set[str]) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return any(p == "*" or p in identifiers for p in _values(principal.get("AWS", [])))


def statement_resource_matches(statement: dict, resource: str) -> bool:
    """Whether the statement's Resource (or NotResource) covers the resource; a statement with
    neither (a trust policy's) covers everything."""
    if "Resource" in statement:
        return any(arn_like(p, resource) for p in _values(statement["Resource"]))
    if "NotResource" in statement:
        return not any(arn_like(p, resource) for p in _values(statement["NotResource"]))
    return True


def statement_applies(statement: dict, action: str, resource: str, context: dict,
                      principals: set[str] | None = None) -> bool:
    if "Action" in statement:
        if not any(like(p, action, True) for p in _values(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(like(p, action, True) for p in _values(statement["NotAction"])):
            return False
    else:
        return False
    if principals is not None:
        if not _principal_matches(statement.get("Principal"), principals):
            return False
    elif "Principal" in statement or "NotPrincipal" in statement:
        return False
    if "Resource" in statement:
        if not any(arn_like(p, resource) for p in _values(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(arn_like(p, resource) for p in _values(statement["NotResource"])):
            return False
    elif principals is None:
        return False
    conditions = statement.get("Condition") or {}
    if not isinstance(conditions, dict):
        return False
    unknown = False
    for operator, block in conditions.items():
        if not isinstance(block, dict):
            return False
        for key, wanted in block.items():
            holds = condition_holds(operator, key, _values(wanted), context)
            if holds is None:
                unknown = True
            elif not holds:
                return False
    # An operator this evaluator does not know fails closed: an Allow does not apply, a Deny does.
    return statement.get("Effect") == "Deny" if unknown else True


def parse(document) -> dict:
    """A policy document as moto stores it (JSON text, sometimes URL-encoded) as a dict."""
    if isinstance(document, dict):
        return document
    try:
        return json.loads(document)
    except ValueError:
        return json.loads(unquote(document))


def decide(documents: list, action: str, resource: str, context: dict,
           principals: set[str] | None = None) -> str:
    verdict = "none"
    for document in documents:
        for statement in _values(parse(document).get("Statement", [])):
            if isinstance(statement, dict) and statement_applies(statement, action, resource, context, principals):
                if statement.get("Effect") == "Deny":
                    return "deny"
                if statement.get("Effect") == "Allow":
                    verdict = "allow"
    return verdict
