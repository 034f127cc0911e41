"""Cursor pagination: stable pages however many rows arrive meanwhile, and no deep OFFSET."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from typing import Any

from django.core import signing
from django.db.models import Expression, F, OrderBy, Q, QuerySet
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from api.errors import FieldErrors
from cases.models.case import UNCERTAINTY_RANK
from cases.selectors import WORKLIST_ORDERINGS


class NewestFirstCursor(CursorPagination):
    """Lists ordered newest first by primary key: ``?cursor=`` from ``next``/``previous``, ``?page_size=`` up to 200."""

    ordering: str | list[str] | tuple[str, ...] = "-pk"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


@dataclass(frozen=True)
class SortKey:
    """One column of a keyset order: a field or annotation of the queryset, and its direction."""

    name: str
    descending: bool

    def order(self, *, reverse: bool = False) -> OrderBy:
        return F(self.name).desc() if self.descending != reverse else F(self.name).asc()


def sort_keys(ordering: Sequence[str | OrderBy], annotations: dict[str, Expression]) -> list[SortKey]:
    """An ``order_by`` list as sort keys; an expression must be one of ``annotations`` (sorted by its alias)."""
    keys = []
    for item in ordering:
        if isinstance(item, str):
            keys.append(SortKey(item.lstrip("-"), item.startswith("-")))
            continue
        expression = item.expression
        if isinstance(expression, F):
            keys.append(SortKey(expression.name, item.descending))
            continue
        alias = next((name for name, expr in annotations.items() if expr == expression), None)
        if alias is None:
            raise ValueError(f"annotate {expression!r} to sort on it with a keyset cursor")
        keys.append(SortKey(alias, item.descending))
    return keys


class WorklistCursor:
    """Keyset pages of the worklist in any of its orders (``cases.selectors.WORKLIST_ORDERINGS``).

    A cursor holds the order and the sort-key values of the row a page ends
    (or, for ``previous``, starts) at, signed so a client cannot forge one: the
    next page is the rows after that row in the order, read off the order's
    index whatever the depth, and rows arriving meanwhile never shift a page.
    ``paginate`` returns the page's case ids; ``response`` wraps the rows.
    """

    page_size = 50
    max_page_size = 200
    salt = "api.worklist-cursor"
    # Expressions the orders sort on, annotated under these names so the cursor can filter on them.
    annotations: dict[str, Expression] = {"uncertainty_rank": UNCERTAINTY_RANK}
    invalid = "Invalid cursor: use the next or previous link as given, with the same order."

    def __init__(self) -> None:
        self.next_url: str | None = None
        self.previous_url: str | None = None

    def page_size_of(self, request: Request) -> int:
        raw = request.query_params.get("page_size")
        if not raw:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise FieldErrors(
                "page_size must be a whole number from 1.",
                {"page_size": [f"A whole number from 1 to {self.max_page_size}."]},
            )
        return min(size, self.max_page_size)

    def paginate(self, queryset: QuerySet[Any], request: Request, *, order: str) -> list[int]:
        """The ids of one page of ``queryset`` in ``order``, from the request's ``cursor`` on."""
        keys = sort_keys(WORKLIST_ORDERINGS[order], self.annotations)
        size = self.page_size_of(request)
        cursor = self._decode(request.query_params.get("cursor"), order=order, keys=keys)
        backwards = cursor is not None and cursor["d"] == "p"
        qs = queryset.annotate(**self.annotations)
        if cursor is not None:
            qs = qs.filter(self._beyond(keys, cursor["v"], reverse=backwards))
        names = [key.name for key in keys]
        rows = list(
            qs.order_by(*[key.order(reverse=backwards) for key in keys]).values_list(*names)[: size + 1]
        )
        more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
        url = request.build_absolute_uri()
        has_next = (more and not backwards) or backwards
        has_previous = (more and backwards) or (cursor is not None and not backwards)
        self.next_url = self._link(url, order, "n", rows[-1]) if rows and has_next else None
        self.previous_url = self._link(url, order, "p", rows[0]) if rows and has_previous else None
        pk = names.index("pk")
        return [row[pk] for row in rows]

    def response(self, results: list[Any]) -> Response:
        return Response({"next": self.next_url, "previous": self.previous_url, "results": results})

    @staticmethod
    def _beyond(keys: list[SortKey], values: list[Any], *, reverse: bool) -> Q:
        """Rows strictly after ``values`` in the keys' order (before it when ``reverse``).

        (k1 > v1) or (k1 = v1 and k2 > v2) or …, each key in its own direction,
        led by the redundant k1 >= v1 that gives the database a range on the
        order's index.
        """

        def op(key: SortKey, *, strict: bool) -> str:
            before = key.descending != reverse
            return ("lt" if before else "gt") if strict else ("lte" if before else "gte")

        equal = Q()
        branches = []
        for key, value in zip(keys, values, strict=True):
            branches.append(equal & Q(**{f"{key.name}__{op(key, strict=True)}": value}))
            equal &= Q(**{key.name: value})
        first = keys[0]
        return Q(**{f"{first.name}__{op(first, strict=False)}": values[0]}) & reduce(operator.or_, branches)

    def _link(self, url: str, order: str, direction: str, row: tuple[Any, ...]) -> str:
        values = [{"t": v.isoformat()} if isinstance(v, datetime) else v for v in row]
        token = signing.dumps({"o": order, "d": direction, "v": values}, salt=self.salt, compress=True)
        return replace_query_param(url, "cursor", token)

    def _decode(self, token: str | None, *, order: str, keys: list[SortKey]) -> dict[str, Any] | None:
        if token is None:
            return None
        try:
            payload = signing.loads(token, salt=self.salt)
            values = [datetime.fromisoformat(v["t"]) if isinstance(v, dict) else v for v in payload["v"]]
            valid = (
                payload["o"] == order  # a cursor of another order would skip or repeat rows
                and payload["d"] in ("n", "p")
                and len(values) == len(keys)
                and all(isinstance(v, (int, float, datetime)) for v in values)  # bool is an int
            )
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            valid = False
        if not valid:
            raise FieldErrors(self.invalid, {"cursor": [self.invalid]}, code="invalid_cursor")
        return {"d": payload["d"], "v": values}


class OldestFirstCursor(CursorPagination):
    """Trails read in the order things happened: oldest first by time, then primary key."""

    ordering = ("at", "pk")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
