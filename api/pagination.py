"""Cursor pagination: stable pages however many rows arrive meanwhile, and no deep OFFSET."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

PAGE_SIZE_MESSAGE = "A whole number from 1 to {max}."
CURSOR_MESSAGE = "No such page: not a cursor of this list; follow the next or previous link as given."


class NewestFirstCursor(CursorPagination):
    """Lists ordered newest first by primary key: ``?cursor=`` from ``next``/``previous``, ``?page_size=`` up to 200.

    Unlike DRF's own, a bad ``page_size`` is a 400 naming the parameter (DRF
    quietly ignores it and gives a page of another size). A cursor that is not
    one of this list's is a 404 (there is no such page), as in DRF, also when it
    decodes but points at no value of the ordering field (DRF: a server error).
    """

    ordering = "-pk"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        values = request.query_params.getlist(self.page_size_query_param)
        if (
            len(values) > 1
            or not raw.isascii()
            or not raw.isdigit()
            or not 1 <= int(raw) <= self.max_page_size
        ):
            raise ValidationError(
                {self.page_size_query_param: [PAGE_SIZE_MESSAGE.format(max=self.max_page_size)]}
            )
        return int(raw)

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            return super().decode_cursor(request)
        except (NotFound, UnicodeError):
            raise NotFound(CURSOR_MESSAGE) from None

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        # A well-formed cursor may still carry a position that is no value of the ordering
        # field (a hand-made one): a 400, not a database error.
        cursor = self.decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            name = self.get_ordering(request, queryset, view)[0].lstrip("-")
            field = queryset.model._meta.pk if name == "pk" else queryset.model._meta.get_field(name)
            try:
                value = field.to_python(cursor.position)
            except (DjangoValidationError, ValueError, TypeError):
                value = None
            if value is None or (isinstance(value, int) and not -(2**63) <= value < 2**63):
                raise NotFound(CURSOR_MESSAGE)
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
