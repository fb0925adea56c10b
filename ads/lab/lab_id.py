"""Lab ids: ``<slug of the lab name>-<lowercase ULID>``.

The same id is the Step Functions execution name and the EC2 ClientToken, so it must
satisfy both (at most 64 characters of ``[a-z0-9-]``, no leading or trailing hyphen). The
ULID suffix makes ids unique and time-sortable; within one process, ids created in the
same millisecond still sort in creation order because the random part is incremented.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import unicodedata

# Crockford's base32, lowercase: no i, l, o, u, so ids cannot be misread.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
ULID_LENGTH = 26
MAX_SLUG_LENGTH = 30
MAX_LAB_ID_LENGTH = 64
LAB_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")

_RANDOM_BITS = 80
_lock = threading.Lock()
_last: tuple[int, int] = (-1, 0)


def slugify(name: str) -> str:
    """Lowercase ASCII letters, digits and single hyphens, at most 30 chars; ``lab`` if empty."""
    ascii_text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > MAX_SLUG_LENGTH:
        cut = slug[: MAX_SLUG_LENGTH + 1]
        # Prefer ending on a whole word when that keeps most of the name.
        boundary = cut.rfind("-")
        slug = cut[:boundary] if boundary >= MAX_SLUG_LENGTH // 2 else cut[:MAX_SLUG_LENGTH]
        slug = slug.rstrip("-")
    return slug or "lab"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_ulid(now_ms: int | None = None) -> str:
    """A 26-character lowercase ULID, monotonic within this process."""
    global _last
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    with _lock:
        last_stamp, last_random = _last
        if stamp <= last_stamp:
            # Same (or an earlier, after a clock step) millisecond: keep the order.
            stamp = last_stamp
            random_part = (last_random + 1) % (1 << _RANDOM_BITS)
            if random_part == 0:
                stamp += 1
        else:
            random_part = secrets.randbits(_RANDOM_BITS)
        _last = (stamp, random_part)
    return _encode(stamp, 10) + _encode(random_part, 16)


def new_lab_id(name: str, *, now_ms: int | None = None) -> str:
    """``new_lab_id("Data Mining")`` -> ``data-mining-01jd5k3q8v2m6x9t4r7p0wz1ab``."""
    return f"{slugify(name)}-{new_ulid(now_ms)}"


def is_valid_lab_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= MAX_LAB_ID_LENGTH
        and LAB_ID_PATTERN.fullmatch(value) is not None
    )
