"""manage.py alerts list | tick | test CHANNEL: the alerts from the command line."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from alerts.models import AlertChannel
from alerts.selectors import alerts_page
from alerts.services import alert_channel_test, alerts_tick
from hostpanel.audit import Actor


class Command(BaseCommand):
    help = "List open and past alerts, evaluate once (tick), or send a test message to a channel."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="Open alerts first, then past ones.")
        sub.add_parser("tick", help="Evaluate the database conditions and deliver what is due (polls do the rest).")
        test = sub.add_parser("test", help="Send a test message to a channel now.")
        test.add_argument("channel")

    def handle(self, *args, action: str, **options):
        if action == "list":
            for alert in alerts_page():
                fired = f"fired {alert.fired_at:%Y-%m-%d %H:%M:%S}" if alert.fired_at else "pending"
                resolved = f", resolved {alert.resolved_at:%Y-%m-%d %H:%M:%S}" if alert.resolved_at else ""
                self.stdout.write(f"#{alert.pk} {alert.state:8} {alert.event}: {alert.summary} ({fired}{resolved})")
        elif action == "tick":
            changed = alerts_tick()
            self.stdout.write(f"{len(changed)} alert(s) fired or resolved.")
        else:
            channel = AlertChannel.objects.filter(name=options["channel"]).first()
            if channel is None:
                raise CommandError(f"no alert channel named {options['channel']!r}")
            notification = alert_channel_test(channel, actor=Actor.command("manage.py alerts"))
            attempt = notification.delivery_attempts.order_by("-number").first()
            detail = attempt.detail if attempt else ""
            if notification.status != "sent":
                raise CommandError(f"not delivered to {channel.name}: {detail} (it is retried with backoff)")
            self.stdout.write(self.style.SUCCESS(f"delivered to {channel.name}: {detail}"))
