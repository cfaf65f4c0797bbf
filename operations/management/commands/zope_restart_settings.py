"""manage.py zope_restart_settings ZOPE_SERVER [--restart-command CMD] [--ssh-address A] [--ssh-port N]
[--ssh-user U] [--ssh-host-key-file FILE] [--health-path PATH]: show or set how a Zope server is restarted.
Shell access to the panel is a superuser's, so the command may set the restart command and its SSH login."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from balancers.models import ZopeServer
from hostpanel.audit import Actor
from operations.selectors import zope_server_ops
from operations.services import zope_server_ops_update


class Command(BaseCommand):
    help = "Show or set a Zope server's restart command, its SSH login (pinned host key) and health path."

    def add_arguments(self, parser):
        parser.add_argument("zope_server")
        parser.add_argument("--restart-command")
        parser.add_argument("--ssh-address")
        parser.add_argument("--ssh-port", type=int)
        parser.add_argument("--ssh-user")
        parser.add_argument("--ssh-host-key-file", help="The Zope host's /etc/ssh/ssh_host_ed25519_key.pub (a copy).")
        parser.add_argument("--health-path")

    def handle(self, *args, zope_server: str, **options):
        server = ZopeServer.objects.filter(name=zope_server).first()
        if server is None:
            raise CommandError(f"no Zope server named {zope_server!r}")
        fields = {
            name: options[name]
            for name in ("restart_command", "ssh_address", "ssh_port", "ssh_user", "health_path")
            if options[name] is not None
        }
        if options["ssh_host_key_file"]:
            try:
                fields["ssh_host_key"] = Path(options["ssh_host_key_file"]).read_text().strip()
            except OSError as exc:
                raise CommandError(f"cannot read the host key file: {exc}") from None
        if fields:
            try:
                zope_server_ops_update(
                    server, actor=Actor.command("manage.py zope_restart_settings"), allow_commands=True, **fields
                )
            except ValidationError as exc:
                raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        ops = zope_server_ops(server)
        self.stdout.write(f"{server.name}: restart {ops.restart_command or '(none)'!r}")
        key = "set" if ops.ssh_host_key else "not set"
        self.stdout.write(f"  over SSH as {ops.ssh_user}@{ops.login_host}:{ops.ssh_port}, host key {key}")
        self.stdout.write(f"  health path {ops.health_path}")
