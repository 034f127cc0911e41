from django.urls import path

from results import views

app_name = "results"
urlpatterns = [
    path("cases/<int:pk>/results/resend/", views.case_resend, name="case_resend"),
]
