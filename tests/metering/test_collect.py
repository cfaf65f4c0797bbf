"""Collecting usage logs exactly once (metering.collect), on the local transport over files written here:
per site per hour, aliases for their site, unknown names for nobody; a rerun or a crash between the commit and
the removal counts nothing twice; a front-end that cannot be reached is reported, the others collected, and its
backlog raises an alert; the number of queries does not grow with the lines or the sites of a file."""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.choices import AlertEvent
from alerts.conditions import database_conditions
from balancers import services as balancer_services
from balancers.models import Balancer, FrontEnd
from deploy.transport.pool import open_transport
from deploy.transport.protocol import TransportError
from hostpanel.audit import Actor
from metering import collect
from metering.backlog import usage_backlogs
from metering.collect import collect_usage, count_lines
from metering.models import CollectedFile, CollectionState, QuotaEvent, QuotaPolicy, UsageHour
from metering.services import QuotaKind, site_quota_set
from metering.tasks import collect_usage_task
from sites import services as site_services
from sites.models import Site, SiteStatus
from sites.services import site_hostnames_backfill
from tests.factories import ACTOR, make_local_frontend

H10 = datetime.datetime(2026, 12, 7, 10, tzinfo=datetime.UTC)
H11 = H10 + datetime.timedelta(hours=1)


def ts(hour: datetime.datetime, seconds: int = 0) -> int:
    return int(hour.timestamp()) + seconds


@pytest.fixture
def usage(db, tmp_path, settings) -> tuple[FrontEnd, Path]:
    settings.HOSTPANEL_LOCAL_TRANSPORT = True
    balancer = balancer_services.balancer_create(actor=ACTOR, name="gold")
    site_services.site_create(
        actor=ACTOR, domain="a.example", aliases=["www.a.example"], balancer=balancer, plone_path="/plone/a"
    )
    site_services.site_create(actor=ACTOR, domain="b.example", balancer=balancer, plone_path="/plone/b")
    directory = tmp_path / "usage"
    directory.mkdir()
    return make_local_frontend(tmp_path, usage_log_dir=str(directory)), directory


def write(directory: Path, name: str, lines: list[str]) -> Path:
    path = directory / f"usage.{name}.log"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def hour_row(domain: str, hour: datetime.datetime) -> tuple:
    row = UsageHour.objects.get(site__domain=domain, hour=hour)
    return (row.requests, row.bytes_in, row.bytes_out, row.status_2xx, row.status_3xx, row.status_4xx, row.status_5xx)


def test_it_counts_closed_files_per_site_per_hour_and_removes_them(usage):
    frontend, directory = usage
    closed = write(
        directory,
        "20261207100000",
        [
            f"{ts(H10, 5)} a.example 100 1000 200 -",
            f"{ts(H10, 6)} www.a.example 110 2000 301 -",  # an alias counts for its site
            f"{ts(H10, 7)} b.example 120 300 404 -",
            f"{ts(H11, 1)} b.example 130 400 503 -",  # the hour of the line's own time stamp
            f"{ts(H10, 8)} nobody.example 140 500 404 1",  # the routing said: no site claims it
            f"{ts(H10, 9)} gone.example 150 600 200 -",  # routed then, no site holds the name now
            "garbage",
        ],
    )
    current = write(directory, "20261207110000", [f"{ts(H11, 2)} a.example 1 1 200 -"])  # rotatelogs' open file
    size = closed.stat().st_size

    result = collect_usage()

    assert result.failures == [] and result.counted == 1
    assert hour_row("a.example", H10) == (2, 210, 3000, 1, 1, 0, 0)
    assert hour_row("b.example", H10) == (1, 120, 300, 0, 0, 1, 0)
    assert hour_row("b.example", H11) == (1, 130, 400, 0, 0, 0, 1)
    assert UsageHour.objects.count() == 3
    row = CollectedFile.objects.get(frontend=frontend)
    assert (row.name, row.lines, row.unknown_lines, row.bad_lines) == (closed.name, 7, 2, 1)
    assert row.size == size and len(row.sha256) == 64
    assert row.removed_at is not None
    assert not closed.exists() and current.exists()  # the open file is not touched
    state = CollectionState.objects.get(frontend=frontend)
    assert state.collected_at is not None and state.error == "" and state.waiting_files == 0


def test_a_second_run_counts_nothing_twice_and_a_later_file_adds_to_the_same_hour(usage):
    _frontend, directory = usage
    write(directory, "20261207100000", [f"{ts(H10, 1)} a.example 10 100 200 -"])
    write(directory, "20261207100500", [f"{ts(H10, 400)} a.example 20 200 200 -"])
    collect_usage()  # counts the first (the second is the newest: still open)
    assert hour_row("a.example", H10) == (1, 10, 100, 1, 0, 0, 0)
    collect_usage()
    assert hour_row("a.example", H10) == (1, 10, 100, 1, 0, 0, 0)
    write(directory, "20261207101000", [])  # rotatelogs moved on: the second is closed
    collect_usage()
    assert hour_row("a.example", H10) == (2, 30, 300, 2, 0, 0, 0)
    assert CollectedFile.objects.count() == 2


def test_a_crash_between_the_commit_and_the_removal_removes_the_file_next_time_without_counting_it(usage, monkeypatch):
    frontend, directory = usage
    first = write(directory, "20261207100000", [f"{ts(H10, 1)} a.example 10 100 200 -"])
    second = write(directory, "20261207100500", [f"{ts(H10, 2)} b.example 10 100 200 -"])
    write(directory, "20261207101000", [])
    real_remove = collect._remove

    def crash(transport, path):
        raise RuntimeError("killed after the commit of file 1")

    monkeypatch.setattr(collect, "_remove", crash)
    result = collect_usage()
    assert "killed after the commit" in result.failures[0]
    assert first.exists() and second.exists()
    assert CollectedFile.objects.get(name=first.name).removed_at is None  # counted, not removed
    assert not CollectedFile.objects.filter(name=second.name).exists()  # never reached

    monkeypatch.setattr(collect, "_remove", real_remove)
    result = collect_usage()
    assert result.failures == []
    assert (result.frontends[0].counted, result.frontends[0].removed_only) == (1, 1)
    assert hour_row("a.example", H10) == (1, 10, 100, 1, 0, 0, 0)  # once, not twice
    assert hour_row("b.example", H10) == (1, 10, 100, 1, 0, 0, 0)
    assert not first.exists() and not second.exists()
    assert not CollectedFile.objects.filter(frontend=frontend, removed_at__isnull=True).exists()
    assert CollectionState.objects.get(frontend=frontend).error == ""


def test_a_front_end_that_cannot_be_reached_is_reported_the_others_collected_and_its_backlog_alerts(
    usage, tmp_path, settings
):
    frontend, directory = usage
    other_dir = tmp_path / "other-usage"
    other_dir.mkdir()
    other = make_local_frontend(tmp_path, name="local2", usage_log_dir=str(other_dir))
    write(directory, "20261207100000", [f"{ts(H10, 1)} a.example 10 100 200 -"])
    write(directory, "20261207101000", [])
    write(other_dir, "20261207100000", [f"{ts(H10, 1)} b.example 10 100 200 -"])
    write(other_dir, "20261207101000", [])

    def factory(fe: FrontEnd):
        if fe.pk == frontend.pk:
            raise TransportError("cannot connect to 127.0.0.1:22: Connection refused", retryable=True)
        return open_transport(fe)

    result = collect_usage(transport_factory=factory)
    assert result.failures == ["local1: cannot connect to 127.0.0.1:22: Connection refused"]
    assert hour_row("b.example", H10)[0] == 1 and not UsageHour.objects.filter(site__domain="a.example").exists()

    state = CollectionState.objects.get(frontend=frontend)
    assert state.collected_at is None and state.failing_since is not None and "refused" in state.error
    settings.HOSTPANEL_USAGE_ROTATE_SECONDS = 3600
    settings.HOSTPANEL_USAGE_BACKLOG_MAX_FILES = 6
    later = state.failing_since + datetime.timedelta(hours=7)
    backlog = {b.frontend: b.files for b in usage_backlogs(later)}
    assert backlog == {"local1": 7, "local2": 0}
    found = [c for c in database_conditions(later) if c.event == AlertEvent.USAGE_BACKLOG]
    assert [(c.subject, c.summary) for c in found] == [("local1", "7 usage-log file(s) wait uncollected on local1")]
    assert not [c for c in database_conditions(state.failing_since) if c.event == AlertEvent.USAGE_BACKLOG]

    collect_usage()  # back: caught up
    assert hour_row("a.example", H10)[0] == 1
    assert usage_backlogs(later)[0].files == 0
    assert not [c for c in database_conditions(later) if c.event == AlertEvent.USAGE_BACKLOG]
    assert other.usage_collection.error == ""


def files_with_sites(directory: Path, first: int, files: int, sites: list[str], lines_per_site: int) -> None:
    """`files` closed files from minute `first` of 10:00 on, each with lines_per_site lines per site, and an
    empty newer one (rotatelogs' open file: the next call starts there, as rotatelogs would go on writing it)."""
    for index in range(first, first + files + 1):
        lines = [f"{ts(H10, index)} {s} 10 100 200 -" for s in sites for _ in range(lines_per_site)]
        write(directory, f"2026120710{index:02d}00", lines if index < first + files else [])


def queries_of_one_run() -> int:
    with CaptureQueriesContext(connection) as captured:
        assert collect_usage().failures == []
    return len(captured)


def test_the_queries_per_file_do_not_grow_with_its_lines_or_sites(usage, django_assert_max_num_queries):
    _frontend, directory = usage
    balancer = Balancer.objects.get()
    Site.objects.bulk_create(
        [Site(domain=f"s{i}.example", balancer=balancer, plone_path=f"/plone/s{i}") for i in range(300)]
    )
    site_hostnames_backfill([f"s{i}.example" for i in range(300)])
    collect_usage()  # the first run also creates the front-end's CollectionState row
    files_with_sites(directory, 0, 1, ["a.example"], 1)
    small = queries_of_one_run()
    files_with_sites(directory, 1, 1, [f"s{i}.example" for i in range(300)], 20)  # 6,000 lines, 300 sites
    with django_assert_max_num_queries(small):
        collect_usage()
    assert UsageHour.objects.filter(hour=H10).count() == 301
    # each file more costs the same few queries, whatever it holds
    files_with_sites(directory, 2, 2, ["a.example"], 1)
    two = queries_of_one_run()
    files_with_sites(directory, 4, 3, [f"s{i}.example" for i in range(300)], 5)
    three = queries_of_one_run()
    assert three - two == two - small > 0
    # the row, the upsert, removed_at, the quotas of its sites (and the test transaction's savepoint pair)
    assert two - small <= 6


def test_count_lines_takes_a_last_line_without_newline_and_lines_split_across_chunks():
    names = {"a.example": 1}
    chunks = [f"{ts(H10)} a.exa".encode(), f"mple 5 50 200 -\n{ts(H10)} a.example 6 60 500 -".encode()]
    count = count_lines(chunks, names)
    assert count.lines == 2 and count.bad_lines == 0
    assert count.usage == {(1, H10): [2, 11, 110, 1, 0, 0, 1]}


def test_only_a_superuser_sets_the_usage_log_dir_and_it_is_an_absolute_path_outside_config_dir(db, tmp_path):
    operator = Actor(name="op", source="web")
    frontend = make_local_frontend(tmp_path, name="x2")
    with pytest.raises(ValidationError) as refused:
        balancer_services.frontend_update(frontend, actor=operator, usage_log_dir="/var/log/hostpanel-usage")
    assert "usage_log_dir" in refused.value.message_dict
    for bad in ("relative/dir", f"{frontend.config_dir}/usage", "/var/log/a b"):
        with pytest.raises(ValidationError) as refused:
            balancer_services.frontend_update(frontend, actor=ACTOR, usage_log_dir=bad)
        assert "usage_log_dir" in refused.value.message_dict, bad
    balancer_services.frontend_update(frontend, actor=ACTOR, usage_log_dir="/var/log/hostpanel-usage")
    assert FrontEnd.objects.get(pk=frontend.pk).usage_log_dir == "/var/log/hostpanel-usage"


def test_the_command_and_the_task_collect_and_the_command_names_a_front_end_it_could_not_collect(usage, tmp_path):
    frontend, directory = usage
    write(directory, "20261207100000", [f"{ts(H10, 1)} a.example 10 100 200 -"])
    write(directory, "20261207100500", [])
    out = io.StringIO()
    call_command("collect_usage", stdout=out)
    assert "local1: 1 file(s) counted (1 lines), 0 counted before and removed now" in out.getvalue()
    write(directory, "20261207101000", [f"{ts(H10, 601)} a.example 10 100 200 -"])
    assert collect_usage_task.enqueue().return_value == 1  # the 10:05 file, now closed
    assert hour_row("a.example", H10)[0] == 1  # the 10:05 file was empty; the 10:10 one is still open
    FrontEnd.objects.filter(pk=frontend.pk).update(usage_log_dir=str(tmp_path / "a-file"))
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(CommandError, match="1 front-end"):
        call_command("collect_usage", stdout=io.StringIO(), stderr=io.StringIO())


def test_a_counted_file_checks_the_quotas_of_its_sites_at_once(usage):
    """The collection calls metering.services.usage_counted after each committed file: a site past its
    quota is suspended by that very collection (policy suspend), not at some later tick."""
    _frontend, directory = usage
    now = datetime.datetime.now(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    site = Site.objects.get(domain="a.example")
    site_quota_set(site, actor=ACTOR, monthly_bytes_out=5000, policy=QuotaPolicy.SUSPEND)
    write(directory, "20261207100000", [f"{ts(now, 1)} a.example 10 6000 200 -", f"{ts(now, 2)} b.example 1 1 200 -"])
    write(directory, "20261207100500", [])
    collect_usage()
    kinds = set(QuotaEvent.objects.filter(site=site).values_list("kind", flat=True))
    assert {QuotaKind.REACHED100, QuotaKind.SUSPENDED} <= kinds
    site.refresh_from_db()
    assert site.status == SiteStatus.SUSPENDED
    assert not QuotaEvent.objects.filter(site__domain="b.example").exists()  # no quota, no event
