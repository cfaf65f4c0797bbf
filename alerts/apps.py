from importlib import import_module

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        # Django's own pattern for signal receivers (like admin's autodiscover): the module connects
        # itself once the models are loaded; nothing below it imports the alerts app.
        import_module("alerts.receivers")
