"""The balancer-manager password is stored Fernet-encrypted with HOSTPANEL_SECRETS_KEY (certificates.crypto),
decrypted only for the status client's login, and never shown by the API, a log, the audit or a rendered file."""

from __future__ import annotations

import base64
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from balancers import services
from balancers.models import FrontEnd
from certificates.crypto import decrypt_secret
from hostpanel.models import AuditEntry
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from status.manager import ManagerEndpoint
from status.poller import poll_once
from tests.samples import MANAGER_XML

PASSWORD = "s3cret-pass"


def _frontend(actor, url: str = "http://10.0.0.5/balancer-manager") -> FrontEnd:
    return services.frontend_create(
        actor=actor,
        name="fe1",
        address="127.0.0.1",
        transport="local",
        balancer_manager_url=url,
        manager_username="admin",
        manager_password=PASSWORD,
    )


def _stored_rows() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM balancers_frontend")
        return repr(cursor.fetchall())


def test_the_database_column_holds_no_clear_text(db, actor):
    frontend = _frontend(actor)
    assert PASSWORD not in _stored_rows()
    with connection.cursor() as cursor:
        columns = [c.name for c in connection.introspection.get_table_description(cursor, "balancers_frontend")]
    assert "manager_password" not in columns
    stored = FrontEnd.objects.get(pk=frontend.pk)
    assert decrypt_secret(stored.manager_password_encrypted) == PASSWORD.encode()
    assert stored.manager_password == PASSWORD


def test_status_polling_logs_in_with_the_decrypted_password(db, actor, canned_server, caplog):
    url, server = canned_server(body=MANAGER_XML)
    _frontend(actor, url)
    with caplog.at_level(logging.DEBUG):
        poll_once(timeout=5)
    expected = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    assert server.requests[0]["headers"]["Authorization"] == f"Basic {expected}"
    assert PASSWORD not in caplog.text


def test_a_password_the_key_cannot_decrypt_is_not_sent_and_the_log_says_why(db, actor, settings, caplog):
    _frontend(actor)
    settings.HOSTPANEL_SECRETS_KEY = [Fernet.generate_key().decode()]  # the key was changed, not rotated
    with caplog.at_level(logging.ERROR):
        endpoint = ManagerEndpoint.of(FrontEnd.objects.get(name="fe1"))
    assert endpoint.password == ""
    assert "fe1: balancer-manager password not usable" in caplog.text


def test_without_a_secrets_key_a_password_is_refused_with_a_clear_message(db, actor, settings):
    settings.HOSTPANEL_SECRETS_KEY = []
    with pytest.raises(ValidationError) as exc:
        _frontend(actor)
    assert "HOSTPANEL_SECRETS_KEY is not set" in exc.value.message_dict["manager_password"][0]
    assert not FrontEnd.objects.exists()
    # without a password, a front-end needs no key
    services.frontend_create(actor=actor, name="fe2", address="127.0.0.1", transport="local")


def test_the_web_form_shows_the_missing_key_on_the_password_field(db, operator_client, settings):
    settings.HOSTPANEL_SECRETS_KEY = []
    response = operator_client.post(
        reverse("balancers:frontend_create"),
        {
            "name": "fe1", "address": "127.0.0.1", "transport": "local", "ssh_port": 22, "ssh_user": "hostpanel",
            "config_dir": "/etc/apache2/hostpanel", "configtest_command": "apache2ctl configtest",
            "reload_command": "apache2ctl graceful", "manager_password": PASSWORD, "http_listen": "*:80",
            "https_listen": "*:443",
        "tls_edge": "apache", "edge_backend_listen": "127.0.0.1:8443",
        "node_address": "127.0.0.1", "node_port_base": 18080, "enabled": "on",
        },
    )  # fmt: skip
    assert response.status_code == 200
    assert "HOSTPANEL_SECRETS_KEY is not set" in response.content.decode()
    assert PASSWORD not in response.content.decode()


def test_the_password_is_in_no_rendered_file_and_no_audit_entry(db, actor):
    frontend = _frontend(actor)
    services.frontend_update(frontend, actor=actor, manager_password="n3w-pass")
    tree = render_tree(load_snapshot(), FrontEnd.objects.get(pk=frontend.pk))
    assert not [path for path, text in tree.items() if PASSWORD in text or "n3w-pass" in text]
    for entry in AuditEntry.objects.filter(object_type="frontend"):
        text = repr((entry.before, entry.after))
        assert PASSWORD not in text and "n3w-pass" not in text
        assert "gAAAA" not in text  # nor the token: a Fernet token starts with its version byte


BEFORE = [("balancers", "0008_routes_base_and_blobs")]
AFTER = [("balancers", "0009_frontend_manager_password_encrypted")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_passwords_and_decrypts_them_back(settings):
    executor = MigrationExecutor(connection)
    leaves, keys = executor.loader.graph.leaf_nodes(), settings.HOSTPANEL_SECRETS_KEY
    try:
        executor.migrate(BEFORE)
        old = executor.loader.project_state(BEFORE).apps.get_model("balancers", "FrontEnd")
        old.objects.create(name="fe1", address="10.0.0.5", manager_password=PASSWORD)
        old.objects.create(name="fe2", address="10.0.0.6", manager_password="")

        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        assert PASSWORD not in _stored_rows()
        new = executor.loader.project_state(AFTER).apps.get_model("balancers", "FrontEnd")
        rows = {f.name: f.manager_password_encrypted for f in new.objects.all()}
        assert decrypt_secret(rows["fe1"]) == PASSWORD.encode() and rows["fe2"] == ""

        executor = MigrationExecutor(connection)
        executor.migrate(BEFORE)
        old = executor.loader.project_state(BEFORE).apps.get_model("balancers", "FrontEnd")
        assert {f.name: f.manager_password for f in old.objects.all()} == {"fe1": PASSWORD, "fe2": ""}

        settings.HOSTPANEL_SECRETS_KEY = []  # production without a key: refused, saying what to do
        executor = MigrationExecutor(connection)
        with pytest.raises(RuntimeError, match="1 front-end.*HOSTPANEL_SECRETS_KEY is not set"):
            executor.migrate(AFTER)
    finally:
        settings.HOSTPANEL_SECRETS_KEY = keys
        executor = MigrationExecutor(connection)
        executor.migrate(leaves)
