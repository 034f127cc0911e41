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
    path("tryout/", views.tryout, name="tryout"),
    path("tryout/<uuid:pk>/", views.tryout_detail, name="tryout_detail"),
    path("tryout/<uuid:pk>.json", views.tryout_status, name="tryout_status"),
    path("tryout/<uuid:pk>/image.png", views.tryout_file, {"kind": "image"}, name="tryout_image"),
    path("tryout/<uuid:pk>/overlay.png", views.tryout_file, {"kind": "overlay"}, name="tryout_overlay"),
    path("tryout/<uuid:pk>/save/", views.tryout_save, name="tryout_save"),
    path("tryout/<uuid:pk>/discard/", views.tryout_discard_view, name="tryout_discard"),
]
