from django.urls import path, re_path

from inference import views

app_name = "inference"
urlpatterns = [
    re_path(
        r"^predictions/(?P<pk>[0-9]+)/(?P<kind>overlay|saliency)\.png$",
        views.prediction_file,
        name="prediction_file",
    ),
    path("cases/<int:pk>/retry/", views.case_retry_view, name="case_retry"),
]
