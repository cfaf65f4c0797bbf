from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_migrate

from hostpanel import sessions
from hostpanel.roles import OPERATORS, VIEWERS


def ensure_role_groups(sender, using="default", apps=None, **kwargs) -> None:
    """The panel's two roles exist after every migrate (and after a test flush, which also sends
    post_migrate): ``operators`` may change things, ``viewers`` only look."""
    registry = apps or sender.apps
    group = registry.get_model("auth", "Group")
    for name in (OPERATORS, VIEWERS):
        group.objects.using(using).get_or_create(name=name)


class HostPanelConfig(AppConfig):
    name = "hostpanel"
    verbose_name = "HostPanel"

    def ready(self) -> None:
        post_migrate.connect(ensure_role_groups, sender=self, dispatch_uid="hostpanel_role_groups")
        user_logged_in.connect(sessions.on_login, dispatch_uid="hostpanel_sessions_login")
