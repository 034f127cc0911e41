"""/api/v1/: the REST API, its OpenAPI schema, and Swagger UI / Redoc (served offline by the sidecar)."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from api.views.base import api_not_found
from api.views.case_list import CaseListView
from api.views.me import MeView
from api.views.studies import StudyDetailView, StudyListView
from api.views.uploads import UploadReportView

app_name = "api"
# The schema and the docs hold no patient data: anyone may read them, as with any product's API docs.
PUBLIC = {"permission_classes": [AllowAny], "authentication_classes": [], "throttle_classes": []}

urlpatterns = [
    path("v1/schema/", SpectacularAPIView.as_view(**PUBLIC), name="schema"),
    path("v1/docs/", SpectacularSwaggerView.as_view(url_name="api:schema", **PUBLIC), name="docs"),
    path("v1/redoc/", SpectacularRedocView.as_view(url_name="api:schema", **PUBLIC), name="redoc"),
    path("v1/me/", MeView.as_view(), name="me"),
    path("v1/studies/", StudyListView.as_view(), name="study-list"),
    path("v1/studies/<int:pk>/", StudyDetailView.as_view(), name="study-detail"),
    path("v1/uploads/<uuid:batch_id>/", UploadReportView.as_view(), name="upload-report"),
    path("v1/cases/", CaseListView.as_view(), name="case-list"),
    # Last: any other /api/ path is the API's own 404.
    re_path(r"^.*$", api_not_found),
]
