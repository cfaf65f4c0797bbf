"""URLs of the balancers app (namespace `balancers`). Other pages add their patterns here."""

from django.urls import path

from balancers import dashboard_views

app_name = "balancers"

urlpatterns = [
    path("", dashboard_views.dashboard, name="dashboard"),
    path("dashboard/grid/", dashboard_views.dashboard_partial, name="dashboard_grid"),
    path("members/<int:pk>/toggle/", dashboard_views.member_toggle, name="member_toggle"),
]
