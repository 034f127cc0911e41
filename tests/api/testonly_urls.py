"""A URLconf for tests only: the real one, plus a paginated list, a POST endpoint and failing views, under /api/v1/."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import include, path
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.models import ApiToken, Scope
from api.pagination import NewestFirstCursor
from api.views.base import StrictSerializer
from oncoportal.exceptions import InvalidInput, TransitionNotAllowed


class TokenRow(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name"]


class TokenList(generics.ListAPIView):
    """Any table will do to exercise the shared cursor pagination; tokens need no other fixture."""

    serializer_class = TokenRow
    pagination_class = NewestFirstCursor
    queryset = ApiToken.objects.all()


class Echo(APIView):
    """A JSON POST endpoint the way the real ones are written: a strict serializer, raise on bad input."""

    scopes = {"post": Scope.UPLOAD}

    class InputSerializer(StrictSerializer):
        name = serializers.CharField(max_length=10)
        count = serializers.IntegerField(min_value=0, required=False)

    def post(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        return Response(params.validated_data, status=201)


# What a view (or a service it calls) may raise, and what the client must get.
RAISED = {
    "invalid": InvalidInput("a queued case has no task to change"),
    "conflict": TransitionNotAllowed("a queued case cannot be reviewed yet"),
    "missing": Http404("No Case matches the given query."),
    "denied": PermissionDenied("Your role may not do this."),
    "bug": RuntimeError("secret detail that must not reach the client"),
}


class Raise(APIView):
    def get(self, request: Request, kind: str) -> Response:
        raise RAISED[kind]


urlpatterns = [
    path("api/v1/test-only/tokens/", TokenList.as_view()),
    path("api/v1/test-only/echo/", Echo.as_view()),
    path("api/v1/test-only/raise/<str:kind>/", Raise.as_view()),
    path("", include("oncoportal.urls")),
]
