from django.urls import path

from metering import views

app_name = "metering"

urlpatterns = [
    path("top/", views.TopSitesView.as_view(), name="top_sites"),
]
