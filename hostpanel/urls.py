from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
]

# JSON errors under /api/, Django's pages elsewhere.
handler404 = "api.errors.handler404"
handler500 = "api.errors.handler500"
