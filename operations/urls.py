from django.urls import path

from operations import views

app_name = "operations"

urlpatterns = [
    path("restarts/", views.RestartListView.as_view(), name="restart_list"),
    path("restarts/<int:pk>/", views.RestartDetailView.as_view(), name="restart_detail"),
    path("restarts/<int:pk>/progress/", views.RestartProgressView.as_view(), name="restart_progress"),
    path("restarts/<int:pk>/resume/", views.RestartResumeView.as_view(), name="restart_resume"),
    path("restarts/<int:pk>/cancel/", views.RestartCancelView.as_view(), name="restart_cancel"),
    path("balancers/<int:pk>/rolling-restart/", views.RestartStartView.as_view(), name="restart_start"),
    path("zope-servers/<int:pk>/restart-settings/", views.ZopeServerOpsView.as_view(), name="zopeserver_ops"),
]
