"""CloudWatch Logs: filter patterns matched as CloudWatch Logs matches them, or refused.

moto matches a single term or a quoted phrase and returns *every* event for any other pattern
(`?ERROR ?WARN`, `-DEBUG`, `%regex%`, numbers, JSON or space-delimited patterns), so a filter
that should select nothing looks like it works. Here FilterLogEvents (and StartLiveTail, which
shares moto's matcher) evaluate the unstructured syntax CloudWatch Logs documents: terms are
case-sensitive and must all appear (`ERROR Exception`); `?term` terms, if any, need one of them
to appear (`?ERROR ?WARN`); `-term` terms must not appear (`ERROR -Exiting`); `"…"` is an exact
phrase (needed for terms with characters other than letters, digits and `_`); `%…%` is a regular
expression searched in the message (only the characters and operators CloudWatch Logs supports:
no parentheses, spaces or multibyte characters). JSON (`{ $.level = "ERROR" }`) and space-delimited
(`[ip, user, ...]`) patterns are not evaluated: FilterLogEvents answers InvalidParameterException
saying so, rather than returning events the pattern would not match. A term matches anywhere in
the message (as a substring). FilterLogEvents interleaves the events of all streams by timestamp,
as it has since the `interleaved` parameter was deprecated (moto lists them stream by stream).
PutRetentionPolicy accepts only CloudWatch Logs' fixed retention periods (moto accepts any number).
"""

import json
import re
from functools import lru_cache

UNSUPPORTED = ("The local AWS does not evaluate JSON or space-delimited filter patterns ({pattern!r}); use terms, "
               '"quoted phrases", ?any-of terms, -excluded terms or %regex%.')
# What CloudWatch Logs accepts between the %s of a regex pattern (no `(`, `)`, spaces or multibyte).
REGEX_CHARS = re.compile(r"[A-Za-z0-9:_#=@/;,\-^$?\[\]{}|\\*+.]*")
# The only retention periods PutRetentionPolicy accepts.
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
TOKEN = re.compile(r'\s*([?-]?)("(?:[^"\\]|\\.)*"|[^\s"]+)')


class FilterPatternError(ValueError):
    pass


@lru_cache(maxsize=256)
def compile_pattern(pattern: str):
    """(required, any-of, excluded) term lists, or a compiled regex; raises FilterPatternError."""
    text = (pattern or "").strip()
    if not text:
        return (), (), ()
    if text[0] in "{[":
        raise FilterPatternError(UNSUPPORTED.format(pattern=pattern))
    if len(text) > 1 and text[0] == "%" and text[-1] == "%":
        if not REGEX_CHARS.fullmatch(text[1:-1]):
            raise FilterPatternError(f"Invalid regex in filter pattern {pattern!r}: only letters, digits, "
                                     r":_#=@/;,- and the operators ^$?[]{}|\*+. are supported (no parentheses)")
        try:
            return re.compile(text[1:-1])
        except re.error as e:
            raise FilterPatternError(f"Invalid regex in filter pattern {pattern!r}: {e}") from e
    required, any_of, excluded = [], [], []
    pos = 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise FilterPatternError(f"Invalid filter pattern {pattern!r}")
        prefix, term = m.groups()
        if term.startswith('"'):
            if len(term) < 2 or not term.endswith('"'):
                raise FilterPatternError(f"Unterminated quote in filter pattern {pattern!r}")
            term = json.loads(term)
        elif not re.fullmatch(r"[A-Za-z0-9_]+", term):
            raise FilterPatternError(f"Invalid character(s) in term '{term}': terms with characters other than "
                                     f"letters, digits and _ must be in double quotes")
        {"": required, "?": any_of, "-": excluded}[prefix].append(term)
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tuple(required), tuple(any_of), tuple(excluded)


class EventMessageFilter:
    """Drop-in for moto's matcher (`moto.logs.models.EventMessageFilter`)."""

    def __init__(self, pattern: str):
        from moto.logs.exceptions import InvalidParameterException

        try:
            self.compiled = compile_pattern(pattern or "")
        except FilterPatternError as e:
            raise InvalidParameterException(str(e)) from e

    def matches(self, message: str) -> bool:
        if isinstance(self.compiled, re.Pattern):
            return self.compiled.search(message) is not None
        required, any_of, excluded = self.compiled
        return (all(t in message for t in required) and (not any_of or any(t in message for t in any_of))
                and not any(t in message for t in excluded))


def _interleaved(filter_log_events):
    """FilterLogEvents always interleaves the streams' events by time (the `interleaved`
    parameter has been ignored and taken as true since 2019); moto lists stream by stream."""

    def always(self, log_group_name, log_stream_names, start_time, end_time, limit, next_token, filter_pattern,
               interleaved):
        return filter_log_events(self, log_group_name, log_stream_names, start_time, end_time, limit, next_token,
                                 filter_pattern, True)

    always.localaws = True
    return always


class Logs:
    def __init__(self, aws):
        import moto.logs.models

        self.aws = aws
        moto.logs.models.EventMessageFilter = EventMessageFilter
        group = moto.logs.models.LogGroup
        if not getattr(group.filter_log_events, "localaws", False):
            group.filter_log_events = _interleaved(group.filter_log_events)

    def before(self, call, environ, body, region):
        if call.operation not in ("FilterLogEvents", "StartLiveTail", "PutRetentionPolicy"):
            return None
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            return None
        if call.operation == "PutRetentionPolicy":
            return self.check_retention(req.get("retentionInDays"))
        pattern = req.get("filterPattern") if call.operation == "FilterLogEvents" else req.get("logEventFilterPattern")
        try:
            compile_pattern(pattern or "")
        except FilterPatternError as e:
            from .common import aws_error

            return aws_error("logs", 400, "InvalidParameterException", str(e))
        return None

    @staticmethod
    def check_retention(days):
        """PutRetentionPolicy takes only CloudWatch Logs' fixed periods (moto takes any number)."""
        if isinstance(days, int) and not isinstance(days, bool) and days in RETENTION_DAYS:
            return None
        from .common import aws_error

        allowed = ", ".join(str(d) for d in RETENTION_DAYS)
        return aws_error("logs", 400, "InvalidParameterException",
                         f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy "
                         f"constraint: Member must satisfy enum value set: [{allowed}]")

    def after(self, call, environ, body, region, resp):
        return None
