"""deploy/transport/ssh.py against a real sshd on 127.0.0.1, and the local transport on the same interface."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import deploy.transport.pool as ssh_module
from deploy.transport.pool import ConnectionPool, open_transport, release_transport
from deploy.transport.protocol import LocalTransport, Transport, TransportError
from deploy.transport.ssh import SSHTransport, key_fingerprint
from devrig.net import free_port
from devrig.sshd import SshServer, generate_key

pytestmark = pytest.mark.real


@pytest.fixture
def sshd(tmp_path):
    server = SshServer(tmp_path / "sshd").start()
    yield server
    server.stop()


def connect(server: SshServer, **kwargs) -> SSHTransport:
    params = {
        "host": "127.0.0.1",
        "port": server.port,
        "user": server.user,
        "host_key": server.host_key,
        "key_path": str(server.client_key_path),
        "timeout": 5,
    }
    params.update(kwargs)
    return SSHTransport(**params)


def test_it_runs_a_command_and_returns_exit_code_stdout_and_stderr(sshd):
    ssh = connect(sshd)
    try:
        result = ssh.run("echo out; echo err >&2; exit 3")
    finally:
        ssh.close()
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert isinstance(ssh, Transport)


def test_it_times_out_a_command_that_runs_too_long(sshd):
    ssh = connect(sshd)
    try:
        with pytest.raises(TransportError, match="timed out") as info:
            ssh.run("sleep 5", timeout=0.5)
    finally:
        ssh.close()
    assert info.value.retryable


def test_it_refuses_a_host_presenting_another_key(sshd, tmp_path):
    other = generate_key(tmp_path / "other_host_key")
    with pytest.raises(TransportError, match="host key mismatch") as info:
        connect(sshd, host_key=other)
    assert not info.value.retryable
    assert key_fingerprint(other) in str(info.value)


def test_it_refuses_a_host_whose_key_type_is_not_the_pinned_one(sshd, tmp_path):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(tmp_path / "ecdsa")], check=True, capture_output=True
    )
    pinned = (tmp_path / "ecdsa.pub").read_text().strip()
    with pytest.raises(TransportError, match="host key") as info:
        connect(sshd, host_key=pinned)
    assert not info.value.retryable


def test_it_reports_a_closed_port_clearly_and_as_retryable(sshd):
    port = free_port()
    with pytest.raises(TransportError, match=f"cannot connect to 127.0.0.1:{port}: Connection refused") as info:
        connect(sshd, port=port)
    assert info.value.retryable


def test_it_times_out_connecting_to_a_host_that_never_answers(sshd):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # accepts the TCP connection but never speaks SSH
    try:
        with pytest.raises(TransportError) as info:
            connect(sshd, port=listener.getsockname()[1], timeout=0.5)
    finally:
        listener.close()
    assert info.value.retryable


def test_it_refuses_a_client_key_the_host_does_not_authorize(sshd, tmp_path):
    generate_key(tmp_path / "stranger")
    with pytest.raises(TransportError, match="refused") as info:
        connect(sshd, key_path=str(tmp_path / "stranger"))
    assert not info.value.retryable


def test_it_says_when_the_key_file_is_missing(sshd, tmp_path):
    with pytest.raises(TransportError, match="does not exist") as info:
        connect(sshd, key_path=str(tmp_path / "nope"))
    assert not info.value.retryable


def exercise_file_operations(t: Transport, root: Path) -> None:
    base = str(root / "a" / "b")
    t.mkdir_p(base)
    assert t.is_dir(base)
    t.write_file(f"{base}/one.conf", b"one\n")
    assert t.read_file(f"{base}/one.conf") == b"one\n"
    assert t.read_file(f"{base}/missing") is None
    t.clone_tree(base, str(root / "copy"))
    # an atomic write into the copy must not change the hard-linked original
    t.write_file(str(root / "copy" / "one.conf"), b"changed\n")
    assert t.read_file(f"{base}/one.conf") == b"one\n"
    assert t.read_file(str(root / "copy" / "one.conf")) == b"changed\n"
    t.symlink_switch(str(root / "live"), base)
    assert t.readlink(str(root / "live")) == base
    assert t.read_file(str(root / "live" / "one.conf")) == b"one\n"
    t.symlink_switch(str(root / "live"), str(root / "copy"))
    assert t.readlink(str(root / "live")) == str(root / "copy")
    assert t.readlink(base) is None
    t.rename(str(root / "copy" / "one.conf"), str(root / "copy" / "two.conf"))
    assert t.list_dir(str(root / "copy")) == ["two.conf"]
    # build_tree: hard-linked copy of a base, minus removed paths, plus new files (never written in place)
    t.build_tree(str(root / "v1"), {"x.conf": b"x1\n", "sub/y.conf": b"y1\n", "z.conf": b"z\n"})
    t.build_tree(
        str(root / "v2"), {"x.conf": b"x2\n", "sub/new.conf": b"n\n"}, base=str(root / "v1"), remove=["z.conf"]
    )
    assert t.read_file(str(root / "v1" / "x.conf")) == b"x1\n"
    assert t.read_file(str(root / "v2" / "x.conf")) == b"x2\n"
    assert t.read_file(str(root / "v2" / "sub" / "y.conf")) == b"y1\n"
    assert t.read_file(str(root / "v2" / "sub" / "new.conf")) == b"n\n"
    assert t.read_file(str(root / "v2" / "z.conf")) is None and t.read_file(str(root / "v1" / "z.conf")) == b"z\n"
    assert oct(os.stat(root / "v2" / "sub" / "new.conf").st_mode & 0o777) == "0o644"
    t.symlink_switch(str(root / "v2link"), str(root / "v2"))
    assert t.read_tree(str(root / "v2link")) == {"x.conf": b"x2\n", "sub/y.conf": b"y1\n", "sub/new.conf": b"n\n"}
    assert t.read_tree(str(root / "nowhere")) == {}
    t.remove_path(str(root / "v2link"))
    with pytest.raises(TransportError, match="refusing the path"):
        t.build_tree(str(root / "v3"), {"../escape.conf": b"x"})
    for name in ("v1", "v2", "v3"):
        t.remove_path(str(root / name))
    t.remove_path(str(root / "a"))
    assert not t.exists(str(root / "a"))
    assert t.list_dir(str(root)) == ["copy", "live"]
    assert t.run("exit 0").ok


def test_ssh_file_operations_do_what_the_deployer_needs(sshd, tmp_path):
    ssh = connect(sshd)
    try:
        exercise_file_operations(ssh, tmp_path / "remote")
    finally:
        ssh.close()


def test_local_file_operations_behave_like_the_ssh_ones(tmp_path):
    exercise_file_operations(LocalTransport(), tmp_path / "local")


def test_a_killed_sshd_turns_into_a_retryable_dropped_connection(sshd, tmp_path):
    ssh = connect(sshd)
    try:
        ssh.write_file(str(tmp_path / "x"), b"x")
        sshd.kill()
        with pytest.raises(TransportError) as info:
            ssh.write_file(str(tmp_path / "y"), b"y" * 100_000)
    finally:
        ssh.close()
    assert info.value.retryable


def test_the_pool_reuses_a_live_connection_and_never_a_dead_one_or_one_for_another_host_key(sshd, settings, tmp_path):

    settings.HOSTPANEL_SSH_KEY = str(sshd.client_key_path)
    frontend = SimpleNamespace(
        name="fe",
        transport="ssh",
        address="127.0.0.1",
        ssh_port=sshd.port,
        ssh_user=sshd.user,
        ssh_host_key=sshd.host_key,
    )
    pool = ConnectionPool()

    original, ssh_module.POOL = ssh_module.POOL, pool
    try:
        first = open_transport(frontend, pooled=True)
        release_transport(frontend, first, healthy=True)
        again = open_transport(frontend, pooled=True)
        assert again is first
        release_transport(frontend, again, healthy=True)
        other_key = SimpleNamespace(**{**vars(frontend), "ssh_host_key": generate_key(tmp_path / "other")})
        with pytest.raises(TransportError, match="host key mismatch"):
            open_transport(other_key, pooled=True)
        sshd.kill()
        with pytest.raises(TransportError, match="Connection refused"):
            open_transport(frontend, pooled=True)  # the pooled connection died with sshd: not reused
    finally:
        pool.close_all()
        ssh_module.POOL = original


def test_what_is_read_over_ssh_is_capped_with_a_clear_error(sshd, tmp_path, settings):
    settings.HOSTPANEL_READ_FILE_MAX_BYTES = 4096
    settings.HOSTPANEL_READ_TREE_MAX_BYTES = 8192
    settings.HOSTPANEL_COMMAND_OUTPUT_MAX_BYTES = 4096
    (tmp_path / "big.conf").write_bytes(b"#" * 5000)
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(3):
        (tree / f"s{i}.conf").write_bytes(os.urandom(4000))  # random: the compressed stream is big too
    ssh = connect(sshd)
    try:
        assert ssh.read_file(str(tmp_path / "small.conf")) is None
        with pytest.raises(TransportError, match="HOSTPANEL_READ_FILE_MAX_BYTES") as too_big:
            ssh.read_file(str(tmp_path / "big.conf"))
        assert not too_big.value.retryable
        with pytest.raises(TransportError, match="HOSTPANEL_READ_TREE_MAX_BYTES"):
            ssh.read_tree(str(tree))
        with pytest.raises(TransportError, match="HOSTPANEL_COMMAND_OUTPUT_MAX_BYTES"):
            ssh.run("head -c 100000 /dev/zero")
        assert ssh.run("echo still usable").stdout == "still usable\n"
    finally:
        ssh.close()


def test_an_upload_to_a_command_that_never_reads_stops_at_the_upload_deadline(sshd, settings):
    settings.HOSTPANEL_SSH_UPLOAD_SECONDS = 1
    ssh = connect(sshd)
    started = time.monotonic()
    try:
        with pytest.raises(TransportError, match="stalled") as info:
            ssh.run("exec sleep 20", timeout=60, input=b"\0" * (16 * 1024 * 1024))  # far beyond the SSH window
    finally:
        ssh.close()
    assert time.monotonic() - started < 5
    assert "HOSTPANEL_SSH_UPLOAD_SECONDS" in info.value.message and info.value.retryable
