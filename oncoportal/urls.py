from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("dicomweb/", include("dicomweb.urls")),
    path("curation/jobs/", include("retraining.urls")),
    path("curation/", include("lifecycle.urls")),
    path("curation/", include("curation.urls")),
    path("label-next/", include("lifecycle.urls_label_next")),  # readers' active-learning queue
    path("", include("inference.urls")),
    path("", include("results.urls")),
    path("", include("cases.urls")),
]

# A database that cannot be reached is a 503 that says so, not "something went wrong".
handler500 = "oncoportal.error_views.server_error"
