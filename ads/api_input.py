"""What a request body must be before the API parses it: bounded, UTF-8, sanely nested JSON.

The resolver and pydantic parse whatever arrives. Some inputs break them, or what comes
after them, with an exception that would be a 500: a document nested thousands of levels
deep (``RecursionError``), bytes that are not UTF-8 (``UnicodeDecodeError`` while the
body is decoded), a lone UTF-16 surrogate such as ``"\\ud800"`` (valid JSON, but no
UTF-8 encoding exists, so DynamoDB and every JSON writer downstream fail on it). These
checks run first and answer with a 4xx naming the limit instead.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from ads.errors import AdsError, FieldProblem, InvalidInputError

# API Gateway accepts payloads up to 10 MB; a request body is a labspec of a few KiB,
# and the labspec itself is limited further (ads.api_models.MAX_API_LABSPEC_BYTES).
MAX_BODY_BYTES = 1024 * 1024
# A labspec is nested about 7 levels deep; 64 leaves room for any real document and
# stays far below the interpreter's recursion limit that pydantic and json.dumps meet.
MAX_JSON_DEPTH = 64

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_SURROGATE = re.compile("[\ud800-\udfff]")
UTF8_ALLOWED = "a JSON document encoded in UTF-8"


class PayloadTooLargeError(AdsError):
    """The request body is larger than the API accepts."""

    code = "payload_too_large"
    http_status = 413

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"request body: found {size} bytes; allowed: at most {limit} bytes",
            size=size,
            limit=limit,
        )


def json_depth(text: str, *, stop_after: int | None = None) -> int:
    """How deeply objects and arrays nest in ``text`` (0 for a scalar), without recursion.

    Brackets inside strings do not count. With ``stop_after`` the scan ends as soon as
    the depth exceeds it (the answer is then ``stop_after + 1``).
    """
    depth = deepest = 0
    for match in _BRACKET.finditer(_JSON_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_after is not None and deepest > stop_after:
                    return deepest
        else:
            depth -= 1
    return deepest


def _dotted(path: str, key: str) -> str:
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key) is not None
    if plain:
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=True)}]"


def lone_surrogate_problem(document: Any) -> FieldProblem | None:
    """The first string (or key) holding a lone surrogate, as a field problem."""
    pending: list[tuple[str, Any]] = [("", document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            found = _SURROGATE.search(value)
            if found:
                return FieldProblem(
                    path or "body",
                    f"a lone surrogate \\u{ord(found.group()):04x} in "
                    f"{json.dumps(value[:40], ensure_ascii=True)}",
                    "Unicode text (a \\ud800-\\udbff escape only as the first half of a pair)",
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):
                    return FieldProblem(
                        path or "body",
                        f"a key with a lone surrogate {json.dumps(key[:40], ensure_ascii=True)}",
                        "keys in Unicode text",
                    )
                pending.append((_dotted(path, key), item))
        elif isinstance(value, list):
            pending.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None


def _decoded_text(event: dict[str, Any]) -> str:
    raw = event.get("body")
    if not event.get("isBase64Encoded"):
        return raw if isinstance(raw, str) else ""
    try:
        if not isinstance(raw, str):
            raise TypeError("a base64 body must be text")
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidInputError(
            FieldProblem("body", "a body marked base64 that is not base64", UTF8_ALLOWED),
            subject="request",
        ) from None
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(len(data), MAX_BODY_BYTES)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            FieldProblem(
                "body",
                f"bytes that are not UTF-8 (0x{data[exc.start]:02x} at byte {exc.start})",
                UTF8_ALLOWED,
            ),
            subject="request",
        ) from None


def checked_event(event: dict[str, Any]) -> dict[str, Any]:
    """The proxy event with its body as checked UTF-8 text; raises a 4xx AdsError otherwise.

    A body that is not JSON at all passes: the resolver reports malformed JSON itself.
    """
    if not event.get("body"):
        return event
    text = _decoded_text(event)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        raise PayloadTooLargeError(size, MAX_BODY_BYTES)
    if json_depth(text, stop_after=MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise InvalidInputError(
            FieldProblem(
                "body",
                f"JSON nested more than {MAX_JSON_DEPTH} levels deep",
                f"objects and arrays nested at most {MAX_JSON_DEPTH} levels deep",
            ),
            subject="request",
        )
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        document = None
    problem = lone_surrogate_problem(document)
    if problem is not None:
        raise InvalidInputError(problem, subject="request")
    if event.get("isBase64Encoded"):
        event = dict(event, body=text, isBase64Encoded=False)
    return event
