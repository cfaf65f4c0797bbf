"""manage.py demo_frontend start|stop|status|backends — the local demo front-end (see devrig/demo.py)."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from balancers.services import deployment_start
from deploy.runner import deployment_execute
from devrig import demo
from hostpanel.audit import Actor


class Command(BaseCommand):
    help = (
        "Run a local demo Apache front-end under var/demo-frontend (start/stop/status), or the demo "
        "backends on the demo Zope servers' ports (backends, in the foreground)."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["start", "stop", "status", "backends"])
        parser.add_argument("--http-port", type=int, default=demo.DEFAULT_HTTP_PORT, help="Site vhosts' port.")
        parser.add_argument(
            "--manager-port", type=int, default=demo.DEFAULT_MANAGER_PORT, help="balancer-manager port."
        )
        parser.add_argument("--https-port", type=int, default=demo.DEFAULT_HTTPS_PORT, help="HTTPS vhosts' port.")
        parser.add_argument("--deploy", action="store_true", help="start: deploy the current config right away.")

    def handle(self, *args, action: str, http_port: int, manager_port: int, deploy: bool, **options):
        if action == "start":
            self._start(http_port, manager_port, deploy, options.get("https_port") or demo.DEFAULT_HTTPS_PORT)
        elif action == "stop":
            was = demo.stop()
            self.stdout.write("Demo front-end stopped." if was else "Demo front-end was not running.")
        elif action == "status":
            paths = demo.DemoPaths.default()
            state = "running" if demo.is_running(paths) else "stopped"
            self.stdout.write(f"Demo front-end: {state} ({paths.workdir})")
        else:
            self._backends()

    def _start(self, http_port: int, manager_port: int, deploy: bool, https_port: int) -> None:
        try:
            started = demo.start(http_port=http_port, manager_port=manager_port, https_port=https_port)
        except demo.DemoError as exc:
            raise CommandError(str(exc)) from exc
        if started is None:
            self.stdout.write(self.style.WARNING(demo.INSTALL_HINT))
            return
        paths, frontend = started
        if deploy:
            deployment = deployment_start(actor=Actor.command("demo_frontend"), frontends=[frontend], enqueue=False)
            deployment = deployment_execute(deployment.pk)
            host = deployment.hosts.get() if deployment else None
            if host is not None:
                self.stdout.write(f"Deployed to the demo front-end: {host.status} {host.error}".rstrip())
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo front-end running: sites on http://127.0.0.1:{http_port}/ "
                f"(try: curl -H 'Host: linux.co.uk' http://127.0.0.1:{http_port}/, or volto.example after "
                "seed_demo --volto), "
                f"balancer-manager on http://127.0.0.1:{manager_port}/balancer-manager; "
                f"HTTPS on 127.0.0.1:{https_port} "
                f"(try: curl --cacert var/demo-pki/roots.pem --resolve {demo.HTTPS_SITE}:{https_port}:127.0.0.1 "
                f"https://{demo.HTTPS_SITE}:{https_port}/)"
            )
        )

    def _backends(self) -> None:
        servers = demo.demo_backend_list()
        if not servers:
            raise CommandError("no Zope server on 127.0.0.1 in the database: run manage.py seed_demo first")
        backends = demo.DemoBackends(servers).start()
        for name, port, reason in backends.skipped:
            self.stdout.write(self.style.WARNING(f"{name}: port {port} not available ({reason}); skipped"))
        served = ", ".join(f"{b.name}:{b.port}" for b in backends.started)
        self.stdout.write(f"Demo backends answering on 127.0.0.1 ({served}). Ctrl-C to stop.")
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        try:
            done.wait()
        except KeyboardInterrupt:
            pass
        finally:
            backends.stop()
