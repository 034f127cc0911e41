from django.urls import path

from cases import views

app_name = "cases"
urlpatterns = [
    path("", views.worklist, name="worklist"),
    path("upload/", views.upload, name="upload"),
    path("upload/<uuid:batch_id>/", views.upload_result, name="upload_result"),
    path("cases/<int:pk>/", views.case_detail, name="case_detail"),
    path("cases/<int:pk>/task/", views.case_task, name="case_task"),
    path("cases/<int:pk>/priority/", views.case_priority, name="case_priority"),
    path("cases/<int:pk>/images/<int:image_pk>/review/", views.review_submit_view, name="review_submit"),
    path("images/<int:pk>/thumbnail.png", views.image_thumbnail, name="image_thumbnail"),
    path("images/<int:pk>/frames/<int:frame>.png", views.image_frame, name="image_frame"),
]
