"""Create a REST API token and print its key (as the last line: only its hash is stored)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api.models import TokenScope
from api.services import api_token_create
from hostpanel.audit import Actor


class Command(BaseCommand):
    help = (
        "Create an API token: NAME --scope billing|operator|read|usage [--networks CIDR,...] [--expires-days N]. "
        "The key is printed once, as the last line of the output."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Token name; the actor in the audit log (e.g. whmcs).")
        parser.add_argument("--scope", required=True, choices=TokenScope.values)
        parser.add_argument("--networks", default="", help="Comma-separated CIDRs the token may be used from.")
        parser.add_argument("--expires-days", type=int, default=None, help="Days until the token expires.")
        parser.add_argument("--description", default="")

    def handle(self, *args, name: str, scope: str, networks: str, expires_days: int | None, description: str, **opts):
        if expires_days is not None and not 1 <= expires_days <= 36500:
            raise CommandError("--expires-days must be between 1 and 36500")
        try:
            token, key = api_token_create(
                actor=Actor.command("create_api_token"),
                name=name,
                scope=scope,
                allowed_networks=networks,
                expires_days=expires_days,
                description=description,
            )
        except ValidationError as exc:
            details = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(details) from None
        expires = f"expires {token.expires_at:%Y-%m-%d %H:%M %Z}" if token.expires_at else "never expires"
        networks_text = ", ".join(token.allowed_networks) or "any address"
        self.stdout.write(f"Created API token {token.name!r} (scope {token.scope}, {expires}, from {networks_text}).")
        self.stdout.write("Store the key now: it is not saved and cannot be shown again.")
        self.stdout.write(key)
