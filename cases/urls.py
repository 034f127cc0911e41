from django.urls import path

from cases import views

app_name = "cases"
urlpatterns = [
    path("", views.worklist, name="worklist"),
    path("cases/status.json", views.case_statuses, name="case_statuses"),
    path("cases/new.json", views.worklist_new, name="worklist_new"),
    path("adjudication/", views.adjudication_queue, name="adjudication_queue"),
    path("upload/", views.upload, name="upload"),
    path("upload/<uuid:batch_id>/", views.upload_result, name="upload_result"),
    path("cases/<int:pk>/", views.case_detail, name="case_detail"),
    path("cases/<int:pk>/task/", views.case_task, name="case_task"),
    path("cases/<int:pk>/priority/", views.case_priority, name="case_priority"),
    path("cases/<int:pk>/images/<int:image_pk>/review/", views.review_submit_view, name="review_submit"),
    path(
        "cases/<int:pk>/images/<int:image_pk>/adjudicate/",
        views.adjudication_submit_view,
        name="adjudication_submit",
    ),
    path("images/<int:pk>/thumbnail.png", views.image_thumbnail, name="image_thumbnail"),
    path("images/<int:pk>/frames/<int:frame>.png", views.image_frame, name="image_frame"),
    path("images/<int:pk>/frames/<int:frame>/pixels", views.image_pixels, name="image_pixels"),
    path("images/<int:pk>/header.json", views.image_header, name="image_header"),
]
