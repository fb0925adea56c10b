"""One GET of a lab agent's health endpoint, as Check Health and the local plane's recovery make it."""

from __future__ import annotations

import json

HEALTH_BODY_LIMIT = 4096


def probe_health(url: str, timeout_s: float) -> tuple[int | None, str]:
    """GET ``url``: (status code or None when nothing answered, body or reason)."""
    # Imported here: only Check Health makes HTTP requests, the other steps never load it.
    import urllib.error
    import urllib.request

    # Health endpoints are private addresses: never route them through a proxy.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout_s) as response:
            return response.status, response.read(HEALTH_BODY_LIMIT).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(HEALTH_BODY_LIMIT).decode("utf-8", "replace")
    except urllib.error.URLError as exc:
        return None, str(exc.reason)
    except (TimeoutError, OSError) as exc:
        return None, str(exc) or type(exc).__name__


def agent_uptime(body: str) -> float | None:
    """How long the agent that answered ``body`` (its /health document) has been up."""
    try:
        document = json.loads(body)
    except json.JSONDecodeError:
        return None
    value = document.get("uptime_s") if isinstance(document, dict) else None
    return float(value) if isinstance(value, int | float) else None
