"""The ADS REST API as the CLI calls it (`ads deploy/list/show/history/destroy`): one method
per route, on the signed transport of :mod:`ads.cli.transport`.

The endpoint comes from :mod:`ads.cli.endpoint`, credentials and signing from
:mod:`ads.cli.signing`; every failure is an :class:`ads.cli.api_error.ApiError` carrying
the exit code scripts rely on.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from ads.cli.endpoint import resolve_settings
from ads.cli.retries import RetryPolicy
from ads.cli.transport import ApiTransport


class AdsApiClient(ApiTransport):
    """One method per API route; each returns the decoded JSON answer or raises ApiError."""

    @classmethod
    def from_args(cls, args: Any) -> AdsApiClient:
        settings = resolve_settings(
            endpoint=getattr(args, "endpoint", None),
            region=getattr(args, "region", None),
            profile=getattr(args, "profile", None),
        )
        return cls(settings)

    def without_retries(self) -> AdsApiClient:
        """The same client making each request once (for loops that tolerate failures)."""
        return AdsApiClient(
            self.settings,
            self._credentials,
            timeout_s=self.timeout_s,
            retry_policy=RetryPolicy(attempts=1),
        )

    # routes

    def create_lab(self, body: dict[str, Any], idempotency_key: str | None = None) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.request("POST", "/labs", body=body, headers=headers)

    def list_labs(
        self,
        statuses: list[str] | None = None,
        limit: int | None = None,
        next_token: str | None = None,
    ) -> Any:
        query: dict[str, str] = {}
        if statuses:
            query["status"] = ",".join(statuses)
        if limit is not None:
            query["limit"] = str(limit)
        if next_token:
            query["next_token"] = next_token
        return self.request("GET", "/labs", query=query)

    def get_lab(self, lab_id: str) -> Any:
        return self.request("GET", f"/labs/{_quote(lab_id)}")

    def get_history(self, lab_id: str) -> Any:
        return self.request("GET", f"/labs/{_quote(lab_id)}/history")

    def destroy_lab(self, lab_id: str) -> Any:
        return self.request("DELETE", f"/labs/{_quote(lab_id)}")


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")
