"""Forms of the sites pages: they translate HTTP input for sites/services.py and show its errors."""

from __future__ import annotations

import csv
import io

from django import forms

from balancers.choices import ServerKind
from balancers.models import Balancer
from certificates.choices import CertificateStatus
from certificates.selectors import acme_unavailable
from hostpanel.forms import ServiceForm
from hostpanel.validators import BLOCKABLE_METHODS
from metering.models import QuotaPolicy
from metering.units import parse_bytes
from sites.choices import HSTS_MAX_SECONDS, ManageAccess, SiteKind, SiteStatus, SiteTls
from sites.services import IMPORT_COLUMNS, IMPORT_MAX_ROWS, IMPORT_REQUIRED_COLUMNS

SORTS = {
    "domain": "domain",
    "-domain": "-domain",
    "balancer": "balancer__name",
    "-balancer": "-balancer__name",
    "status": "status",
    "-status": "-status",
    "customer": "customer_ref",
    "-customer": "-customer_ref",
    "updated": "updated_at",
    "-updated": "-updated_at",
}


NO_CERTIFICATE = "none"
CERTIFICATE_FILTER_CHOICES = [("", "Any certificate"), *CertificateStatus.choices, (NO_CERTIFICATE, "No certificate")]


class SiteFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=253, help_text="Domain, alias or customer ref.")
    balancer = forms.ChoiceField(required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *SiteStatus.choices], required=False)
    certificate = forms.ChoiceField(choices=CERTIFICATE_FILTER_CHOICES, required=False)
    sort = forms.ChoiceField(choices=[(k, k) for k in SORTS], required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # a plain list (one small query; a ModelChoiceField would iterate with a server-side cursor)
        self.balancer_names = list(Balancer.objects.order_by("name").values_list("name", flat=True))
        self.fields["balancer"].choices = [("", "All balancers")] + [(n, n) for n in self.balancer_names]


class SiteForm(ServiceForm):
    domain = forms.CharField(max_length=253, help_text="e.g. linux.co.uk; internationalised names are converted.")
    aliases = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Other host names of the site, one per line (e.g. www.linux.co.uk).",
    )
    kind = forms.ChoiceField(
        label="Kind",
        choices=SiteKind.choices,
        required=False,
        initial=SiteKind.CLASSIC,
        help_text="Classic UI: Zope renders every page. Volto: the pages come from the customer's Node.js "
        "frontend, and only the API (/++api++) goes to Zope. Frontend only: every request goes to the Node.js "
        "frontend, which calls Zope itself.",
    )
    balancer = forms.ModelChoiceField(
        queryset=Balancer.objects.filter(kind=ServerKind.ZOPE).order_by("name"),
        to_field_name="name",
        help_text="The Zope servers of this Plone site: every page of a Classic UI site, the API of a Volto site.",
        error_messages={
            "invalid_choice": "Choose a balancer of Zope servers (a Node.js frontend balancer goes "
            "under Frontend balancer)."
        },
    )
    frontend_balancer = forms.ModelChoiceField(
        label="Frontend balancer",
        queryset=Balancer.objects.filter(kind=ServerKind.NODE).order_by("name"),
        to_field_name="name",
        required=False,
        empty_label="(none: Classic UI)",
        help_text="Volto and frontend-only sites: the balancer of the Node.js servers running this customer's "
        "Volto build. Classic UI sites have none.",
        error_messages={"invalid_choice": "Choose a balancer of Node.js frontend servers."},
    )
    classic_ui_path = forms.CharField(
        label="Classic UI path",
        max_length=64,
        required=False,
        help_text="Volto sites only, optional: keep Plone's Classic UI reachable under this path for the staff "
        "networks (403 for everyone else), e.g. /ClassicUI. Empty: no Classic UI.",
    )
    plone_path = forms.CharField(
        label="Plone path", max_length=255, help_text="The Plone site in Zope, e.g. /plone/linux."
    )
    customer_ref = forms.CharField(label="Customer ref", max_length=100, required=False)
    tls = forms.ChoiceField(label="HTTPS certificate", choices=SiteTls.choices, required=False)
    https_redirect = forms.BooleanField(
        label="Redirect HTTP to HTTPS",
        required=False,
        initial=False,  # ticked on a new site only when it gets a certificate by default (__init__)
        help_text="Once a certificate is live; ACME challenges are never redirected. Has no effect on an HTTP-only "
        "site.",
    )
    hsts_seconds = forms.IntegerField(
        label="HSTS max-age (seconds)",
        required=False,
        initial=0,
        widget=forms.NumberInput(attrs={"min": 0, "max": HSTS_MAX_SECONDS}),  # the model checks the range
        help_text="Strict-Transport-Security on HTTPS answers; 0 = off, at most two years (63072000).",
    )

    # site options (README, "Site options"): checked fields, never Apache text; a change is a map change
    manage_access = forms.ChoiceField(
        label="Management interface",
        choices=ManageAccess.choices,
        required=False,
        initial=ManageAccess.PUBLIC,
        help_text="Zope's management interface (any path segment manage, manage_main or manage_*).",
    )
    blocked_methods = forms.MultipleChoiceField(
        label="Blocked HTTP methods",
        choices=[(m, m) for m in BLOCKABLE_METHODS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Apache answers 405 without asking Zope (WebDAV: PROPFIND, MKCOL...; plone.restapi uses PUT, "
        "PATCH and DELETE).",
    )
    passthrough_paths = forms.CharField(
        label="Pass-through paths",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Served by Apache itself, never proxied to Zope; one per line: a prefix ending in '/' "
        "(/icons/) or one exact path (/robots.txt).",
    )
    edit_host = forms.CharField(
        label="Edit host",
        max_length=253,
        required=False,
        help_text="Another host name for this Plone site, answered only for the staff networks "
        "(HOSTPANEL_STAFF_NETWORKS; 403 for others), over HTTP. Empty: none.",
    )

    # --- traffic quota (metering, #29): a SiteQuota of its own, set by metering.services.site_quota_set ---
    quota_monthly = forms.CharField(
        label="Monthly traffic quota",
        required=False,
        max_length=40,
        help_text="Bytes out per calendar month (UTC), e.g. 500 GB or 1.5 TB (1 GB = 10^9 bytes); empty: no quota.",
    )
    quota_policy = forms.ChoiceField(
        label="When the quota is reached", choices=QuotaPolicy.choices, initial=QuotaPolicy.NOTIFY, required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.initial.get("tls", "")
        if "https_redirect" not in self.initial:  # a new site: redirect only when it gets a certificate
            self.initial["https_redirect"] = bool(current) and current != SiteTls.NONE
        unavailable = acme_unavailable()
        if unavailable:
            field = self.fields["tls"]
            if current == SiteTls.ACME:  # an existing ACME site keeps its choice, said to be stuck
                field.choices = [
                    (value, f"{label} (not available)" if value == SiteTls.ACME else label)
                    for value, label in SiteTls.choices
                ]
            else:
                field.choices = [(value, label) for value, label in SiteTls.choices if value != SiteTls.ACME]
            field.help_text = unavailable

    def clean_quota_monthly(self) -> int | None:
        text = self.cleaned_data.get("quota_monthly", "").strip()
        return parse_bytes(text) if text else None  # a ValidationError is shown under the field

    # --- end of traffic quota ---

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        data["aliases"] = [line.strip() for line in data["aliases"].splitlines() if line.strip()]
        data["passthrough_paths"] = data["passthrough_paths"].split()  # the model checks each one
        for name, empty in (("tls", ""), ("hsts_seconds", None), ("manage_access", "")):
            if data.get(name) == empty:
                data.pop(name)  # not given: the default (new site) or unchanged
        if not data.get("kind"):  # a POST without a kind (a script older than kinds): the kind fields unchanged
            for name in ("kind", "frontend_balancer", "classic_ui_path"):
                data.pop(name, None)
        return data


class SuspendForm(ServiceForm):
    reason = forms.CharField(max_length=200, required=False, help_text="Shown in the audit log, e.g. unpaid invoice.")


class SiteImportForm(forms.Form):
    csv_file = forms.FileField(
        label="CSV file",
        required=False,
        help_text="Columns: domain, aliases (separated by spaces or ';'), balancer, plone_path, customer_ref; "
        "optional: tls (acme, custom or none), https_redirect (yes/no), hsts_seconds, manage_access (public, "
        "staff or blocked), blocked_methods and passthrough_paths (separated by spaces or ';'), edit_host, "
        "kind (classic, volto or frontend-only; empty: classic, or volto when a frontend balancer is named), "
        "frontend_balancer (a Node.js frontend balancer's name), classic_ui_path (volto only, e.g. /ClassicUI). "
        "A header row with these names is expected.",
    )
    csv_text = forms.CharField(label="…or paste the CSV", required=False, widget=forms.Textarea(attrs={"rows": 8}))

    MAX_BYTES = 4 * 1024 * 1024

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("csv_file")
        text = cleaned.get("csv_text") or ""
        if upload:
            if upload.size > self.MAX_BYTES:
                raise forms.ValidationError("The file is larger than 4 MB.")
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError("The file is not UTF-8 text.") from None
        if not text.strip():
            raise forms.ValidationError("Choose a CSV file or paste its content.")
        cleaned["rows"] = parse_site_csv(text)
        cleaned["text"] = text
        return cleaned


def parse_site_csv(text: str) -> list[dict[str, str]]:
    """CSV text to row dicts. A header row is required; unknown columns are kept so the importer
    reports them. Raises forms.ValidationError for a file that is not usable at all."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise forms.ValidationError(f"The CSV could not be read: {exc}") from None
    header = [h.strip().lower() for h in header]
    missing = [c for c in IMPORT_REQUIRED_COLUMNS if c not in header]
    if missing:
        raise forms.ValidationError(
            f"The header row must name the columns {', '.join(IMPORT_COLUMNS)}; missing: {', '.join(missing)}."
        )
    rows: list[dict[str, str]] = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= IMPORT_MAX_ROWS:
                raise forms.ValidationError(f"At most {IMPORT_MAX_ROWS} rows at once.")
            if len(cells) > len(header):
                cells, extra = cells[: len(header)], cells[len(header) :]
                row = dict(zip(header, cells, strict=True))
                row["extra cells"] = ",".join(extra)
            else:
                row = dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=True))
            rows.append(row)
    except csv.Error as exc:
        raise forms.ValidationError(f"The CSV could not be read: {exc}") from None
    return rows
