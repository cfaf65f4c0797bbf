from django.apps import AppConfig


class HostPanelConfig(AppConfig):
    name = "hostpanel"
    verbose_name = "HostPanel"
