from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from hostpanel import views
from sites.urls import certificate_urlpatterns

urlpatterns = [
    # browsers ask for /favicon.ico whatever the page says (the API, a file view): the vendored icon
    path("favicon.ico", RedirectView.as_view(url=static("hostpanel/favicon.svg"), permanent=True), name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("audit/", views.AuditListView.as_view(), name="audit_list"),
    path("sites/<str:domain>/certificate/", include((certificate_urlpatterns, "certificates"))),
    path("sites/", include("sites.urls")),
    path("operations/", include("operations.urls")),
    path("alerts/", include("alerts.urls")),
    path("traffic/", include("metering.urls")),
    path("", include("balancers.urls")),  # "" is balancers:dashboard, the home page
    path("api/v1/", include("api.urls")),
]

# JSON errors under /api/, Django's pages elsewhere.
handler404 = "api.errors.handler404"
handler500 = "api.errors.handler500"
