"""Cursor pagination: stable pages however many rows arrive meanwhile, and no deep OFFSET."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from typing import Any

from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Expression, F, OrderBy, Q, QuerySet
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from cases.models.case import UNCERTAINTY_RANK, UNREAD_RANK
from cases.selectors import WORKLIST_ORDERINGS

PAGE_SIZE_MESSAGE = "A whole number from 1 to {max}."
CURSOR_MESSAGE = "Invalid cursor: use the next or previous link of a page as given."


class InvalidCursor(NotFound):
    """A cursor that is not one of the list's own: there is no such page (404, as DRF answers), code invalid_cursor."""

    default_code = "invalid_cursor"
    default_detail = CURSOR_MESSAGE


def invalid_cursor() -> InvalidCursor:
    return InvalidCursor()


def page_size_of(request: Request, *, default: int, largest: int, param: str = "page_size") -> int:
    """``?page_size=`` as a whole number from 1 to ``largest`` (``default`` when absent); a 400 naming it otherwise."""
    values = request.query_params.getlist(param)
    if not values:
        return default
    raw = values[0]
    if len(values) > 1 or not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= largest:
        raise ValidationError({param: [PAGE_SIZE_MESSAGE.format(max=largest)]})
    return int(raw)


class NewestFirstCursor(CursorPagination):
    """Lists ordered newest first by primary key: ``?cursor=`` from ``next``/``previous``, ``?page_size=`` up to 200.

    Unlike DRF's own, a bad ``page_size`` is a 400 naming the parameter (DRF
    quietly ignores it and gives a page of another size). A cursor that is not one
    of this list's is a 404, code ``invalid_cursor`` (no such page), as in DRF,
    also when it decodes but points at no value of the ordering field (DRF: a
    server error); the worklist's own cursor answers the same.
    """

    ordering: str | list[str] | tuple[str, ...] = "-pk"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int:
        return page_size_of(
            request, default=self.page_size, largest=self.max_page_size, param=self.page_size_query_param
        )

    def decode_cursor(self, request: Request) -> Cursor | None:
        if not request.query_params.get(self.cursor_query_param):
            return None  # absent or empty: the first page
        try:
            return super().decode_cursor(request)
        except (NotFound, UnicodeError):
            raise invalid_cursor() from None

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        # A well-formed cursor may still carry a position that is no value of the ordering
        # field (a hand-made one): a 404, not a database error.
        cursor = self.decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            name = self.get_ordering(request, queryset, view)[0].lstrip("-")
            field = queryset.model._meta.pk if name == "pk" else queryset.model._meta.get_field(name)
            try:
                value = field.to_python(cursor.position)
            except (DjangoValidationError, ValueError, TypeError):
                value = None
            if value is None or (isinstance(value, int) and not -(2**63) <= value < 2**63):
                raise invalid_cursor()
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Results per page, 1 to {self.max_page_size} (default {self.page_size})."
                )
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
            elif parameter["name"] == self.cursor_query_param:
                parameter["description"] = "Opaque: take it from the next or previous link of a page."
        return parameters


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
    annotations: dict[str, Expression] = {"uncertainty_rank": UNCERTAINTY_RANK, "unread_rank": UNREAD_RANK}

    def __init__(self) -> None:
        self.next_url: str | None = None
        self.previous_url: str | None = None

    def paginate(self, queryset: QuerySet[Any], request: Request, *, order: str) -> list[int]:
        """The ids of one page of ``queryset`` in ``order``, from the request's ``cursor`` on."""
        keys = sort_keys(WORKLIST_ORDERINGS[order], self.annotations)
        size = page_size_of(request, default=self.page_size, largest=self.max_page_size)
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
        if not token:
            return None  # absent or empty: the first page
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
            raise invalid_cursor()
        return {"d": payload["d"], "v": values}


class OldestFirstCursor(NewestFirstCursor):
    """Trails read in the order things happened: oldest first by time, then primary key."""

    ordering = ("at", "pk")
