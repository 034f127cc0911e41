"""A URLconf for tests only: the real one, plus a paginated list and a view that fails, under /api/v1/."""

from __future__ import annotations

from django.urls import include, path
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.models import ApiToken
from api.pagination import NewestFirstCursor


class TokenRow(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name"]


class TokenList(generics.ListAPIView):
    """Any table will do to exercise the shared cursor pagination; tokens need no other fixture."""

    serializer_class = TokenRow
    pagination_class = NewestFirstCursor
    queryset = ApiToken.objects.all()


class Boom(APIView):
    """A bug in a view: an exception no handler knows."""

    def get(self, request: Request) -> Response:
        raise RuntimeError("secret detail that must not reach the client")


urlpatterns = [
    path("api/v1/test-only/tokens/", TokenList.as_view()),
    path("api/v1/test-only/boom/", Boom.as_view()),
    path("", include("oncoportal.urls")),
]
