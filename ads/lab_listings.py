"""Pages of lab records: a caller's labs, every lab, the labs in a status.

The listings of :class:`~ads.records.LabRepository`, which reads and writes the items:
the ``owner-index``, ``owner-group-index`` and ``assignee-index`` GSIs for a caller's
labs (idempotency keys and other items without an owner are filtered out), a scan for
an admin's, the ``status-index`` for the health watch and the sweep. A page's
``next_token`` is the key DynamoDB answered, checked strictly when it comes back.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ads import identity
from ads.errors import FieldProblem, InvalidInputError
from ads.lab_record import LabRecord, LabStatus
from ads.labs_table import (
    ASSIGNEE_GROUP_INDEX,
    ASSIGNEE_INDEX,
    IDEMPOTENCY_PREFIX,
    OWNER_GROUP_INDEX,
    OWNER_INDEX,
    STATUS_INDEX,
    from_dynamo,
    to_dynamo,
)


def _encode_token(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    raw = json.dumps(from_dynamo(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_TOKEN_ALLOWED = "a next_token returned by a previous page of the same listing"


def _decode_token(token: str | None, index: tuple[str, str] | None = None) -> dict[str, Any] | None:
    """The start key a token stands for, checked strictly.

    A token is handed back by the client, so it is input: it must be the exact key shape
    this listing produces (``lab_id``, plus the index's keys with the caller's own
    partition value), string values only. DynamoDB refuses any other start key with a
    ValidationException, which would otherwise surface as a 500.
    """
    if not token:
        return None
    wanted = {"lab_id"} | ({index[0], "created_at"} if index else set())
    try:
        padded = token + "=" * (-len(token) % 4)
        key = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
        if not isinstance(key, dict) or set(key) != wanted:
            raise ValueError("not this listing's key")
        if not all(isinstance(v, str) and v for v in key.values()):
            raise ValueError("not a key of strings")
        if index and key[index[0]] != index[1]:
            raise ValueError("a key of another listing")
        return to_dynamo(key)
    except (ValueError, TypeError, RecursionError) as exc:
        # binascii.Error, JSONDecodeError and UnicodeDecodeError are ValueErrors.
        raise InvalidInputError(
            FieldProblem("next_token", repr(token[:40]), _TOKEN_ALLOWED), subject="query"
        ) from exc


class LabListings:
    """The listings of a lab repository (its ``_table``, read with its projection)."""

    _table: Any
    # The attributes its reads answer, when projected (ads.record_projection).
    _attributes: tuple[str, ...] | None

    def _projection(self) -> dict[str, Any]:
        from ads.record_projection import projection

        return projection(self._attributes) if self._attributes else {}

    def list_for_owner(
        self,
        owner: str,
        *,
        status: Iterable[LabStatus] | None = None,
        limit: int = 20,
        next_token: str | None = None,
    ) -> tuple[list[LabRecord], str | None]:
        """The owner's labs, newest first, one page at a time.

        For a role session these are its own labs and those of its role (any session of
        the role may see them), read through the owner-group index.
        """
        return self._list_by_principal(
            owner,
            attribute="owner",
            index=OWNER_INDEX,
            group_attribute="owner_group",
            group_index=OWNER_GROUP_INDEX,
            status=status,
            limit=limit,
            next_token=next_token,
        )

    def list_for_assignee(
        self,
        assignee: str,
        *,
        status: Iterable[LabStatus] | None = None,
        limit: int = 20,
        next_token: str | None = None,
    ) -> tuple[list[LabRecord], str | None]:
        """The labs assigned to ``assignee`` (a cohort's member), newest first, through the
        assignee index. For a role session these are the labs assigned to it and to its
        role (any path), as access has them (:func:`ads.identity.principal_matches`),
        through the assignee-group index."""
        return self._list_by_principal(
            assignee,
            attribute="assignee",
            index=ASSIGNEE_INDEX,
            group_attribute="assignee_group",
            group_index=ASSIGNEE_GROUP_INDEX,
            status=status,
            limit=limit,
            next_token=next_token,
        )

    def _list_by_principal(
        self,
        principal: str,
        *,
        attribute: str,
        index: str,
        group_attribute: str,
        group_index: str,
        status: Iterable[LabStatus] | None,
        limit: int,
        next_token: str | None,
    ) -> tuple[list[LabRecord], str | None]:
        """The labs whose ``attribute`` is ``principal``, newest first, through ``index``;
        for a role session, those whose ``attribute`` is the session or its role, through
        the ``group_attribute`` index."""
        from boto3.dynamodb.conditions import Attr, Key

        role = identity.session_role(principal)
        prefix = identity.role_prefix(role) if role else None
        if role is None or prefix is None:
            kwargs: dict[str, Any] = {
                "IndexName": index,
                "KeyConditionExpression": Key(attribute).eq(principal),
                "ScanIndexForward": False,
            }
            return self._page(
                self._table.query,
                kwargs,
                status,
                limit,
                next_token,
                Attr,
                index_key=attribute,
                index_value=principal,
            )
        kwargs = {
            "IndexName": group_index,
            "KeyConditionExpression": Key(group_attribute).eq(role),
            "ScanIndexForward": False,
        }
        # The group also holds other sessions' labs: keep this session's and the role's.
        mine = Attr(attribute).eq(principal) | Attr(attribute).begins_with(prefix)
        return self._page(
            self._table.query,
            kwargs,
            status,
            limit,
            next_token,
            Attr,
            extra=mine,
            index_key=group_attribute,
            index_value=role,
        )

    def list_all(
        self,
        *,
        status: Iterable[LabStatus] | None = None,
        limit: int = 20,
        next_token: str | None = None,
    ) -> tuple[list[LabRecord], str | None]:
        """Every lab (admin view). A scan: fine for the sizes ADS manages."""
        from boto3.dynamodb.conditions import Attr

        kwargs: dict[str, Any] = {}
        page, token = self._page(
            self._table.scan, kwargs, status, limit, next_token, Attr, scan=True
        )
        return page, token

    def labs_in_status(self, *statuses: LabStatus, page_size: int = 100) -> Iterator[LabRecord]:
        """Every lab in one of ``statuses``, oldest first, read page by page through the
        status index (no scan of the table)."""
        from boto3.dynamodb.conditions import Key

        for status in statuses:
            request: dict[str, Any] = {
                "IndexName": STATUS_INDEX,
                "KeyConditionExpression": Key("status").eq(LabStatus(status).value),
                "Limit": page_size,
            }
            while True:
                response = self._table.query(**request)
                for item in response.get("Items", []):
                    yield LabRecord.model_validate(from_dynamo(item))
                last_key = response.get("LastEvaluatedKey")
                if not last_key:
                    break
                request["ExclusiveStartKey"] = last_key

    def _page(
        self,
        call: Callable[..., dict[str, Any]],
        kwargs: dict[str, Any],
        status: Iterable[LabStatus | str] | None,
        limit: int,
        next_token: str | None,
        attr: Any,
        scan: bool = False,
        extra: Any = None,
        index_key: str = "owner",
        index_value: str = "",
    ) -> tuple[list[LabRecord], str | None]:
        statuses = [LabStatus(s).value for s in status or []]
        condition = attr("owner").exists() & ~attr("lab_id").begins_with(IDEMPOTENCY_PREFIX)
        if extra is not None:
            condition = condition & extra
        if statuses:
            condition = condition & attr("status").is_in(statuses)
        kwargs["FilterExpression"] = condition
        start = _decode_token(next_token, None if scan else (index_key, index_value))
        records: list[LabRecord] = []
        last_key = None
        # A filter applies after the page is read: keep reading until the page is full.
        while True:
            request = dict(kwargs, Limit=max(limit, 1), **self._projection())
            if start:
                request["ExclusiveStartKey"] = start
            response = call(**request)
            for item in response.get("Items", []):
                records.append(LabRecord.model_validate(from_dynamo(item)))
            last_key = response.get("LastEvaluatedKey")
            if len(records) >= limit or not last_key:
                break
            start = last_key
        if len(records) > limit:
            records = records[:limit]
            last = records[-1]
            last_key = {"lab_id": last.lab_id}
            if not scan:
                last_key.update(
                    {index_key: getattr(last, index_key), "created_at": last.created_at}
                )
        if scan:
            records.sort(key=lambda r: r.created_at, reverse=True)
        return records, _encode_token(last_key)
