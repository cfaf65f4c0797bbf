"""schemathesis against the live schema: every operation (none excluded), fuzzed (positive and negative
data) with an operator token, must never answer 5xx and every answer must match the documented schema."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.tasks import task_backends

from api.services import api_token_create
from balancers.services import frontend_create
from hostpanel.audit import Actor

ST = Path(sys.executable).with_name("st")


@pytest.fixture
def contained(monkeypatch):
    """Fuzzed front-ends get random addresses and directories: in this process (the live server),
    queued deployments are never run (dummy task backend) and nothing but loopback is reachable."""

    dummy = task_backends.configure_settings({"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}})
    monkeypatch.setitem(task_backends.__dict__, "settings", dummy)
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
    loopback = {"127.0.0.1", "::1", "localhost"}

    def getaddrinfo(host, *args, **kwargs):
        if str(host) not in loopback:
            raise socket.gaierror(socket.EAI_NONAME, "tests reach loopback only")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        if isinstance(address, tuple) and address[0] not in loopback:
            raise ConnectionRefusedError("tests reach loopback only")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.mark.real
def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(
    live_server, transactional_db, settings, tmp_path, contained
):
    settings.HOSTPANEL_API_RATE = "1000000/min"
    call_command("seed_demo", sites=3, no_user=True, verbosity=0)
    frontend_create(
        actor=Actor.command("tests"),
        name="fe1",
        address="127.0.0.1",
        transport="local",
        config_dir=str(tmp_path / "fe1"),
        configtest_command="true",
        reload_command="true",
    )
    _token, key = api_token_create(actor=Actor.command("tests"), name="schemathesis", scope="operator")
    command = [
        str(ST),
        "run",
        f"{live_server.url}/api/v1/schema/?format=json",
        "--header",
        f"Authorization: Token {key}",
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--phases",
        "examples,fuzzing",
        "--max-examples",
        "6",
        "--workers",
        "1",
        "--seed",
        "20261126",
        "--request-timeout",
        "20",
        "--no-shrink",
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=420)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    assert "Tested: " in output
