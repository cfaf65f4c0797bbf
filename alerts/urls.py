from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.AlertListView.as_view(), name="alert_list"),
    path("<int:pk>/", views.AlertDetailView.as_view(), name="alert_detail"),
    path("channels/", views.ChannelListView.as_view(), name="channel_list"),
    path("channels/add/", views.ChannelCreateView.as_view(), name="channel_create"),
    path("channels/<int:pk>/edit/", views.ChannelUpdateView.as_view(), name="channel_update"),
    path("channels/<int:pk>/delete/", views.ChannelDeleteView.as_view(), name="channel_delete"),
    path("channels/<int:pk>/test/", views.ChannelTestView.as_view(), name="channel_test"),
]
