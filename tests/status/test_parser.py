"""The pure balancer-manager parser, on XML and HTML captured from Apache 2.4.71 (devrig/capture.py)
and on hostile documents."""

from __future__ import annotations

import pytest

from status.parse import HostState, MemberFlags, StatusError, nonces_from_html, parse_manager_xml
from tests.samples import (
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    MANAGER_HCHECK_HTML,
    MANAGER_HCHECK_XML,
    MANAGER_NO_REFERER_HTML,
)
from tests.samples import MANAGER_HTML as HTML
from tests.samples import MANAGER_XML as XML


def balancers():
    return {b.name: b for b in parse_manager_xml(XML)}


def test_it_reads_every_balancer_with_its_settings():
    found = balancers()
    assert list(found) == ["bronze", "silver"]
    bronze = found["bronze"]
    assert (bronze.sticky_cookie, bronze.lbmethod, bronze.nofailover, bronze.maxattempts, bronze.timeout) == (
        "BALANCEID",
        "byrequests",
        False,
        2,
        20,
    )
    assert bronze.nonce == "f2c152bc-3186-39e6-34b1-2e0f01d49149"
    silver = found["silver"]
    assert (silver.sticky_cookie, silver.lbmethod, silver.nofailover, silver.maxattempts) == (
        "SILVERID",
        "bybusyness",
        True,
        3,
    )


def test_it_reads_members_with_their_figures():
    zope1, zope2, backup = balancers()["bronze"].members
    assert zope1.url == "http://127.0.0.1:52703"
    assert (zope1.route, zope1.lbset, zope1.loadfactor, zope1.elected, zope1.busy, zope1.load) == (
        "zope1",
        1,
        1.0,
        3,
        0,
        100,
    )
    assert (zope1.transferred, zope1.read, zope1.timeout, zope1.retry) == (679, 60, 5, 60)
    assert backup.route == ""


def test_it_reads_a_member_in_error_with_its_error_time():
    zope2 = balancers()["bronze"].members[1]
    assert zope2.flags.error and not zope2.flags.ok
    assert zope2.flags.state == "error"
    assert zope2.error_time == "Thu, 26 Nov 2026 21:33:02 GMT"
    assert zope2.load == -200


def test_it_reads_hot_standby_drain_disabled_and_stopped_from_the_status_string():
    bronze, silver = balancers()["bronze"], balancers()["silver"]
    assert bronze.members[2].flags.hot_standby and bronze.members[2].flags.ok
    drain, disabled, stopped = silver.members
    assert drain.flags.drain and drain.flags.state == "drain"
    assert disabled.flags.disabled and not disabled.flags.ok and disabled.flags.state == "disabled"
    assert stopped.flags.stopped and stopped.flags.state == "stopped"
    assert stopped.loadfactor == 5.0 and stopped.lbset == 2
    assert stopped.timeout is None and stopped.retry is None  # absent elements stay unknown


def test_status_flags_parse_every_token_and_keep_unknown_ones():
    flags = MemberFlags.parse("Init Stby Drn Dis Stop Ign Spar Err Ok HcFl Shut Gen Free Weird ")
    assert all(
        [
            flags.init,
            flags.hot_standby,
            flags.drain,
            flags.disabled,
            flags.stopped,
            flags.ignore_errors,
            flags.hot_spare,
            flags.error,
            flags.ok,
            flags.health_check_failed,
            flags.shutting_down,
            flags.generic,
            flags.free,
        ]
    )
    assert MemberFlags.parse("Init HcFl ").state == "health check failing"
    assert MemberFlags.parse("Init Err ").state == "error"
    assert MemberFlags.parse("Init Err HcFl ").state == "health check failing"  # the more precise reason
    assert flags.unknown == ("Weird",)
    assert MemberFlags.parse("").state == "unknown"


def test_it_reads_the_nonce_from_the_html_page_for_builds_without_xml_nonce():
    assert nonces_from_html(HTML.decode()) == {
        "bronze": "f2c152bc-3186-39e6-34b1-2e0f01d49149",
        "silver": "cb130812-e82e-d42a-677f-31f8497aa043",
    }


def test_it_reads_a_document_without_nonce_as_an_empty_nonce():
    stripped = XML.replace(b"<httpd:nonce>f2c152bc-3186-39e6-34b1-2e0f01d49149</httpd:nonce>", b"")
    assert parse_manager_xml(stripped)[0].nonce == ""


def test_it_recognises_the_html_page_apache_sends_without_referer():
    with pytest.raises(StatusError) as err:
        parse_manager_xml(MANAGER_NO_REFERER_HTML)
    assert err.value.state == HostState.HTML
    assert "Referer" in err.value.reason


@pytest.mark.parametrize(
    ("document", "words"),
    [
        (BILLION_LAUGHS, "hostile"),
        (EXTERNAL_ENTITY, "hostile"),
        (XML.replace(b"http://httpd.apache.org", b"http://evil.example"), "not a balancer-manager document"),
        (b"<manager><balancers/></manager>", "not a balancer-manager document"),
        (b"\x00\xffjunk{not xml", "not XML"),
        (b"", "not XML"),
        (XML[: len(XML) // 2], "not XML"),
        (XML.replace(b"<httpd:elected>3</httpd:elected>", b"<httpd:elected>many</httpd:elected>", 1), "number"),
    ],
)
def test_it_rejects_hostile_or_broken_documents_as_junk(document, words):
    with pytest.raises(StatusError) as err:
        parse_manager_xml(document)
    assert err.value.state == HostState.JUNK
    assert words in err.value.reason


def test_it_rejects_an_oversized_document_before_parsing_it():
    huge = XML.replace(b"<httpd:balancers>", b"<httpd:balancers>" + b"<!-- padding -->" * 300_000)
    with pytest.raises(StatusError) as err:
        parse_manager_xml(huge)
    assert err.value.state == HostState.JUNK and "larger than" in err.value.reason
    assert parse_manager_xml(huge, max_bytes=len(huge))  # the same document is fine below the limit


def test_it_reads_a_member_taken_out_by_its_health_checks_apart_from_one_in_error():
    """Captured from Apache 2.4.71 with mod_proxy_hcheck: zope2's backend stopped, its checks failed twice."""
    (bronze,) = parse_manager_xml(MANAGER_HCHECK_XML)
    zope1, zope2 = bronze.members
    assert (zope1.route, zope1.flags.ok, zope1.flags.health_check_failed, zope1.flags.state) == (
        "zope1",
        True,
        False,
        "ok",
    )
    assert zope2.route == "zope2" and zope2.status.strip() == "Init HcFl"
    assert zope2.flags.health_check_failed and not zope2.flags.ok and not zope2.flags.error
    assert zope2.flags.state == "health check failing"
    assert zope2.flags.unknown == () and zope2.error_time  # the time of the failure that took it out


def test_the_html_page_with_health_check_columns_still_gives_its_nonces():
    assert list(nonces_from_html(MANAGER_HCHECK_HTML.decode())) == ["bronze"]
