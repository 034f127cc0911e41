"""/api/v1/: the REST API, its OpenAPI schema, and Swagger UI / Redoc (served offline by the sidecar)."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from api.views.audit import CaseAuditView
from api.views.base import api_not_found
from api.views.case_list import CaseListView
from api.views.cases import CaseDetailView, CaseRetryView
from api.views.destinations import DestinationDetailView, DestinationListView, DestinationTestView
from api.views.me import MeView
from api.views.model_changes import ModelPromoteView, ModelRollbackView
from api.views.models import ModelActivateView, ModelDetailView, ModelListView, ModelRetireView
from api.views.predictions import PredictionDetailView, PredictionOverlayView, PredictionSaliencyView
from api.views.results import CaseResultsView, ResultResendView
from api.views.reviews import AdjudicationQueueView, CaseAdjudicationsView, CaseReviewsView
from api.views.score import ScoreDetailView, ScoreImageView, ScoreOverlayView, ScoreView
from api.views.snapshots import SnapshotDetailView, SnapshotExportView, SnapshotListView
from api.views.studies import StudyDetailView, StudyListView
from api.views.uploads import UploadReportView
from api.views.webhooks import WebhookDeliveriesView, WebhookDetailView, WebhookListView, WebhookPingView

app_name = "api"
# The schema and the docs hold no patient data: anyone may read them, as with any product's API docs.
PUBLIC = {"permission_classes": [AllowAny], "authentication_classes": [], "throttle_classes": []}

urlpatterns = [
    path("v1/schema/", SpectacularAPIView.as_view(**PUBLIC), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script (CSP).
    path("v1/docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema", **PUBLIC), name="docs"),
    path("v1/redoc/", SpectacularRedocView.as_view(url_name="api:schema", **PUBLIC), name="redoc"),
    path("v1/me/", MeView.as_view(), name="me"),
    path("v1/studies/", StudyListView.as_view(), name="study_list"),
    path("v1/studies/<int:pk>/", StudyDetailView.as_view(), name="study_detail"),
    path("v1/uploads/<uuid:batch_id>/", UploadReportView.as_view(), name="upload_report"),
    path("v1/cases/", CaseListView.as_view(), name="case_list"),
    # One case, its readings and decisions; predictions and their saliency files.
    path("v1/cases/<int:pk>/", CaseDetailView.as_view(), name="case_detail"),
    path("v1/cases/<int:pk>/retry/", CaseRetryView.as_view(), name="case_retry"),
    path("v1/cases/<int:pk>/reviews/", CaseReviewsView.as_view(), name="case_reviews"),
    path("v1/cases/<int:pk>/adjudications/", CaseAdjudicationsView.as_view(), name="case_adjudications"),
    # Its result objects (SR, SC) and how sending them to the PACS went; Resend (Curators).
    path("v1/cases/<int:pk>/results/", CaseResultsView.as_view(), name="case_results"),
    path("v1/results/<int:pk>/resend/", ResultResendView.as_view(), name="result_resend"),
    path("v1/adjudications/", AdjudicationQueueView.as_view(), name="adjudication_queue"),
    path("v1/predictions/<int:pk>/", PredictionDetailView.as_view(), name="prediction_detail"),
    path("v1/predictions/<int:pk>/overlay.png", PredictionOverlayView.as_view(), name="prediction_overlay"),
    path(
        "v1/predictions/<int:pk>/saliency.png", PredictionSaliencyView.as_view(), name="prediction_saliency"
    ),
    path("v1/webhooks/", WebhookListView.as_view(), name="webhook_list"),
    path("v1/webhooks/<int:pk>/", WebhookDetailView.as_view(), name="webhook_detail"),
    path("v1/webhooks/<int:pk>/deliveries/", WebhookDeliveriesView.as_view(), name="webhook_deliveries"),
    path("v1/webhooks/<int:pk>/ping/", WebhookPingView.as_view(), name="webhook_ping"),
    # Result destinations (the PACS that get results back): Curators.
    path("v1/destinations/", DestinationListView.as_view(), name="destination_list"),
    path("v1/destinations/<int:pk>/", DestinationDetailView.as_view(), name="destination_detail"),
    path("v1/destinations/<int:pk>/test/", DestinationTestView.as_view(), name="destination_test"),
    # Dataset snapshots: Curators list, freeze, read and export them (a streamed zip).
    path("v1/snapshots/", SnapshotListView.as_view(), name="snapshot_list"),
    path("v1/snapshots/<int:pk>/", SnapshotDetailView.as_view(), name="snapshot_detail"),
    path("v1/snapshots/<int:pk>/export/", SnapshotExportView.as_view(), name="snapshot_export"),
    # Model versions: read by anyone with a role; activated and retired by Curators.
    path("v1/models/", ModelListView.as_view(), name="model_list"),
    path("v1/models/<int:pk>/", ModelDetailView.as_view(), name="model_detail"),
    path("v1/models/<int:pk>/activate/", ModelActivateView.as_view(), name="model_activate"),
    path("v1/models/<int:pk>/retire/", ModelRetireView.as_view(), name="model_retire"),
    # Promote through the gate, roll back a change (docs/promotion.md).
    path("v1/models/<int:pk>/promote/", ModelPromoteView.as_view(), name="model_promote"),
    path("v1/models/changes/<int:pk>/rollback/", ModelRollbackView.as_view(), name="model_rollback"),
    # A case's audit trail (Curators); scoring one image without making a case (the try-out).
    path("v1/cases/<int:pk>/audit/", CaseAuditView.as_view(), name="case_audit"),
    path("v1/score/", ScoreView.as_view(), name="score"),
    path("v1/score/<uuid:pk>/", ScoreDetailView.as_view(), name="score_detail"),
    path("v1/score/<uuid:pk>/image.png", ScoreImageView.as_view(), name="score_image"),
    path("v1/score/<uuid:pk>/overlay.png", ScoreOverlayView.as_view(), name="score_overlay"),
    # Last: any other /api/ path is the API's own 404.
    re_path(r"^.*$", api_not_found),
]
