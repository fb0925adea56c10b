"""Reading one CDK context value: a text, choice, flag, list, number or duration.

Context arrives from two places with different types: `cdk.json` gives JSON values
(lists, booleans, numbers) and `cdk synth -c key=value` gives strings. Each reader
accepts both, answers its default for a missing or blank value, and raises
:class:`ContextError` with the key, what was found and what is allowed.
:mod:`cdk_app.settings` says which settings there are.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


class ContextError(ValueError):
    """A CDK context value the app cannot use."""

    def __init__(self, key: str, found: object, allowed: str) -> None:
        super().__init__(f"CDK context {key!r}: found {found!r}; allowed: {allowed}")
        self.key = key


_DURATION = re.compile(r"^\d{1,6}[smhd]$")


def duration(get: Callable[[str], Any], key: str, default: str, *, none: bool = False) -> str:
    """A lease duration (30m, 4h, 2d); ``none`` also admits "none" (never expires)."""
    value = get(key)
    if missing(value):
        return default
    text = str(value).strip().lower()
    if (none and text == "none") or (_DURATION.match(text) and int(text[:-1]) > 0):
        return text
    raise ContextError(
        key, value, "a duration such as 30m, 4h or 2d" + (", or none" if none else "")
    )


def missing(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def text(
    get: Callable[[str], Any], key: str, default: str, pattern: re.Pattern[str], allowed: str
) -> str:
    value = get(key)
    if missing(value):
        return default
    if not isinstance(value, str) or not pattern.match(value.strip()):
        raise ContextError(key, value, allowed)
    return value.strip()


def choice(get: Callable[[str], Any], key: str, default: str, choices: tuple[str, ...]) -> str:
    value = get(key)
    if missing(value):
        return default
    if value not in choices:
        raise ContextError(key, value, ", ".join(choices))
    return str(value)


def flag(get: Callable[[str], Any], key: str, default: bool) -> bool:
    value = get(key)
    if missing(value):
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ContextError(key, value, "true or false")


def text_list(
    get: Callable[[str], Any], key: str, pattern: re.Pattern[str], allowed: str
) -> tuple[str, ...]:
    value = get(key)
    if missing(value):
        return ()
    # `-c key=a,b` arrives as one string; cdk.json gives a JSON list.
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ContextError(key, value, f"a list (or comma-separated string) of {allowed}")
    cleaned: list[str] = []
    for item in items:
        if not isinstance(item, str) or not pattern.match(item.strip()):
            raise ContextError(key, item, allowed)
        if item.strip() not in cleaned:
            cleaned.append(item.strip())
    return tuple(cleaned)


def whole_number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def number(get: Callable[[str], Any], key: str, default: int, choices: tuple[int, ...]) -> int:
    value = get(key)
    if missing(value):
        return default
    number = whole_number(value)
    if number not in choices:
        raise ContextError(key, value, ", ".join(str(choice) for choice in choices))
    return number


def positive(get: Callable[[str], Any], key: str, default: int) -> int:
    value = get(key)
    if missing(value):
        return default
    number = whole_number(value)
    if number is None or not 1 <= number <= 10000:
        raise ContextError(key, value, "a whole number from 1 to 10000")
    return number


def members(get: Callable[[str], Any], key: str, default: int) -> int:
    value = get(key)
    if missing(value):
        return default
    number = whole_number(value)
    if number is None or not 1 <= number <= 1000:
        raise ContextError(key, value, "a whole number of members from 1 to 1000")
    return number


def bounded(
    get: Callable[[str], Any], key: str, default: int, low: int, high: int, unit: str = "seconds"
) -> int:
    # The highs are what the ASL's retries are tested to outlast (see ads.config).
    value = get(key)
    if missing(value):
        return default
    number = whole_number(value)
    if number is None or not low <= number <= high:
        raise ContextError(key, value, f"a whole number of {unit} from {low} to {high}")
    return number


def limit(get: Callable[[str], Any], key: str, *, whole: bool) -> Any:
    """A quota limit: unset (no limit), or a number from 0 (whole for a count of labs)."""
    value = get(key)
    if missing(value):
        return None
    allowed = "a whole number from 0 to 100000" if whole else "a number of USD per hour from 0"
    if isinstance(value, bool):
        raise ContextError(key, value, allowed)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ContextError(key, value, allowed) from None
    if whole:
        if not number.is_integer() or not 0 <= number <= 100_000:
            raise ContextError(key, value, allowed)
        return int(number)
    if not 0 <= number < float("inf"):
        raise ContextError(key, value, allowed)
    return number
