"""Sites pages: thin doors into sites/services.py."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.functional import cached_property
from django.views import View
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic import TemplateView

from balancers.models import FrontEnd
from balancers.selectors.effects import change_effect, with_site_status, without_site
from certificates.choices import CertificateStatus
from certificates.forms import CertificateUploadForm
from certificates.selectors import acme_unavailable, certificate_attempts, certificate_of
from hostpanel.models import AuditEntry
from hostpanel.permissions import OperatorRequiredMixin, PanelAccessMixin
from hostpanel.templatetags.panel import hostname
from hostpanel.web import ConfirmView, ServiceFormView, deployment_note, web_actor
from metering.models import QuotaPolicy, SiteQuota
from metering.selectors import TRAFFIC_SPANS, site_traffic
from metering.services import site_quota_set
from sites import services
from sites.choices import SiteStatus
from sites.forms import (
    CERTIFICATE_FILTER_CHOICES,
    NO_CERTIFICATE,
    SORTS,
    SiteFilterForm,
    SiteForm,
    SiteImportForm,
    SuspendForm,
)
from sites.models import Site, SiteAlias, default_tls
from sites.selectors import deploy_state, site_last_deployment, site_placement
from status.poller import latest_hosts

PAGE_SIZE = 50


# --- traffic quota (metering, #29): the site form's two quota fields ----------------------------------------


def pop_quota(data: dict) -> dict:
    """Take the quota fields out of the site form's data: site_quota_set's arguments."""
    limit, policy = data.pop("quota_monthly", None), data.pop("quota_policy", "") or QuotaPolicy.NOTIFY
    return {"monthly_bytes_out": limit, "policy": policy}


def quota_initial(site: Site) -> dict:
    quota = SiteQuota.objects.filter(site=site).first()
    if quota is None:
        return {"quota_monthly": "", "quota_policy": QuotaPolicy.NOTIFY}
    return {"quota_monthly": str(quota.monthly_bytes_out), "quota_policy": quota.policy}


# --- end of traffic quota ---


def filtered_sites(params) -> tuple[SiteFilterForm, object, str, bool]:
    """The sites list's queryset for the query parameters (search, filters, sort), and whether a
    text search is part of it."""
    form = SiteFilterForm(params)
    qs = Site.objects.all()
    sort = "domain"
    searching = False
    if form.is_valid():
        q = form.cleaned_data["q"].strip().lower()
        if q:
            searching = True
            # domains and aliases are stored lower-case: a plain (index-friendly) contains
            qs = qs.filter(
                Q(domain__contains=q)
                | Q(customer_ref__icontains=q)
                | Q(pk__in=SiteAlias.objects.filter(name__contains=q).values("site_id"))
            )
        if form.cleaned_data["balancer"]:
            name = form.cleaned_data["balancer"]  # a Zope balancer, or a Volto site's frontend balancer
            qs = qs.filter(Q(balancer__name=name) | Q(frontend_balancer__name=name))
        if form.cleaned_data["status"]:
            qs = qs.filter(status=form.cleaned_data["status"])
        certificate = form.cleaned_data["certificate"]
        if certificate == NO_CERTIFICATE:
            qs = qs.filter(certificate__isnull=True)
        elif certificate:
            qs = qs.filter(certificate__status=certificate)
        sort = form.cleaned_data["sort"] or "domain"
    order = SORTS.get(sort, "domain")
    qs = qs.order_by(order, "domain") if order.lstrip("-") != "domain" else qs.order_by(order)
    return form, qs, sort, searching


ROW_FIELDS = (
    "pk",
    "domain",
    "balancer__name",
    "plone_path",
    "status",
    "customer_ref",
    "updated_at",
    "tls",
    "certificate__status",
    "certificate__not_after",
)
STATUS_LABELS = dict(SiteStatus.choices)
CERTIFICATE_LABELS = dict(CertificateStatus.choices)


class SiteListView(PanelAccessMixin, TemplateView):
    """Fast with thousands of sites: plain rows (no model instances), aliases of the shown page in
    one query, and for a text search one scan that yields both the count and the page."""

    template_name = "sites/site_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form, qs, sort, searching = filtered_sites(self.request.GET)
        if searching:
            # one LIKE scan for the matching ids (in order) instead of a COUNT plus a page query
            page = Paginator(list(qs.values_list("pk", flat=True)), PAGE_SIZE).get_page(self.request.GET.get("page"))
            ids = list(page.object_list)
            by_id = {row["pk"]: row for row in Site.objects.filter(pk__in=ids).values(*ROW_FIELDS)}
            rows = [by_id[pk] for pk in ids if pk in by_id]
        else:
            paginator = Paginator(qs.values(*ROW_FIELDS), PAGE_SIZE)
            paginator.count = qs.count()  # without the join to the balancer that the rows need
            page = paginator.get_page(self.request.GET.get("page"))
            rows = list(page.object_list)
        aliases: dict[int, list[str]] = {}
        shown = SiteAlias.objects.filter(site_id__in=[r["pk"] for r in rows]).order_by("name")
        for site_id, name in shown.values_list("site_id", "name"):
            aliases.setdefault(site_id, []).append(name)
        prefix = reverse("sites:site_list")
        for row in rows:
            row["url"] = f"{prefix}{row['domain']}/"
            row["aliases"] = aliases.get(row["pk"], [])
            row["status_label"] = STATUS_LABELS.get(row["status"], row["status"])
            row["certificate_status"] = row["certificate__status"] or ""
            row["certificate_label"] = CERTIFICATE_LABELS.get(row["certificate_status"], "")
            row["certificate_expires"] = row["certificate__not_after"]
            row["updated"] = timezone.localtime(row["updated_at"]).strftime("%Y-%m-%d %H:%M")
        context.update(
            filter_form=form,
            page=page,
            sites=rows,
            sort=sort,
            total=page.paginator.count,
            current={
                k: (form.cleaned_data.get(k) if form.is_valid() else "") or ""
                for k in ("q", "balancer", "status", "certificate")
            },
            balancer_names=form.balancer_names,
            status_choices=SiteStatus.choices,
            certificate_choices=CERTIFICATE_FILTER_CHOICES[1:],
        )
        return context


def live_context(site: Site) -> dict:
    """The site page's "live, and where" card: the site's liveness, each enabled front-end's state for
    it, and the last deployment that carried one of its changes (sites.selectors)."""
    state = deploy_state()
    frontends = list(FrontEnd.objects.filter(enabled=True).select_related("live_snapshot").order_by("name"))
    reachability = {h.frontend_name: (str(h.state), h.reason) for h in latest_hosts(frontends)}
    placement = site_placement(site, state, reachability)
    last = site_last_deployment(site)
    liveness = state.liveness(site)
    waiting = liveness["pending_deployment"] is not None or (last is not None and not last.is_finished)
    return {
        "site": site,
        "certificate": certificate_of(site),
        "liveness": liveness,
        "placement": placement,
        "last_deployment": last,
        "live_finished": not waiting,
    }


class SiteLiveView(PanelAccessMixin, View):
    """The "live, and where" card alone, polled by the site page while a deployment carries its change."""

    def get(self, request, domain):
        site = get_object_or_404(Site, domain=domain)
        return render(request, "sites/_site_live.html", live_context(site))


class SiteDetailView(PanelAccessMixin, TemplateView):
    template_name = "sites/site_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        site = get_object_or_404(
            Site.objects.select_related("balancer", "frontend_balancer", "certificate").prefetch_related(
                Prefetch("aliases")
            ),
            domain=kwargs["domain"],
        )
        context.update(live_context(site))
        certificate = context["certificate"]
        context.update(
            site=site,
            certificate=certificate,
            attempts=certificate_attempts(certificate) if certificate is not None else [],
            history=AuditEntry.objects.filter(object_type__in=["site", "certificate"], object_key=site.domain)[:20],
        )
        # traffic metering (#29): the traffic card (metering/_site_traffic.html)
        context.update(traffic=site_traffic(site, self.request.GET.get("traffic")), traffic_spans=TRAFFIC_SPANS)
        return context


class SiteCreateView(ServiceFormView):
    form_class = SiteForm
    title = "Add a site"
    submit_label = "Add site"

    def get_cancel_url(self):
        return reverse("sites:site_list")

    def get_initial(self):
        return {"tls": default_tls()}

    def perform(self, data):
        quota = pop_quota(data)  # traffic metering (#29)
        with transaction.atomic():
            site = services.site_create(actor=web_actor(self.request), **data)
            site_quota_set(site, actor=web_actor(self.request), **quota)
        return site

    def success_message(self, site):
        return f"Site {site.domain} added."


class SiteUpdateView(ServiceFormView):
    form_class = SiteForm
    submit_label = "Save changes"

    @cached_property
    def site(self) -> Site:
        # looked up lazily, after the permission check in dispatch()
        return get_object_or_404(
            Site.objects.select_related("balancer", "frontend_balancer"), domain=self.kwargs["domain"]
        )

    @property
    def title(self):
        return f"Edit {self.site.domain}"

    def get_initial(self):
        return {
            "domain": self.site.domain,
            "aliases": "\n".join(self.site.aliases.values_list("name", flat=True)),
            "kind": self.site.kind,
            "balancer": self.site.balancer.name,
            "frontend_balancer": self.site.frontend_balancer.name if self.site.frontend_balancer else "",
            "classic_ui_path": self.site.classic_ui_path,
            "plone_path": self.site.plone_path,
            "customer_ref": self.site.customer_ref,
            "tls": self.site.tls,
            "https_redirect": self.site.https_redirect,
            "hsts_seconds": self.site.hsts_seconds,
            "manage_access": self.site.manage_access,
            "blocked_methods": self.site.blocked_methods,
            "passthrough_paths": "\n".join(self.site.passthrough_paths),
            "edit_host": self.site.edit_host,
            **quota_initial(self.site),  # traffic metering (#29)
        }

    def get_cancel_url(self):
        return self.site.get_absolute_url()

    def perform(self, data):
        aliases = data.pop("aliases")
        quota = pop_quota(data)  # traffic metering (#29)
        with transaction.atomic():
            site = services.site_update(self.site, actor=web_actor(self.request), aliases=aliases, **data)
            site_quota_set(site, actor=web_actor(self.request), **quota)
        return site

    def success_message(self, site):
        return f"Site {site.domain} saved."


class _SiteConfirm(ConfirmView):
    def get_object(self):
        return get_object_or_404(
            Site.objects.select_related("balancer", "frontend_balancer"), domain=self.kwargs["domain"]
        )


class SiteSuspendView(_SiteConfirm):
    title = "Suspend site"
    button = "Suspend"
    button_class = "danger"
    form_class = SuspendForm

    def question(self, site):
        return f"Suspend {site.domain}? Visitors will see the 'suspended' page instead of the site."

    def effect(self, site):
        return change_effect(with_site_status(site.domain, SiteStatus.SUSPENDED))

    def perform(self, site, data):
        site = services.site_suspend(site, actor=web_actor(self.request), reason=data["reason"])
        return f"Site {site.domain} suspended." + deployment_note(site), site.get_absolute_url()


class SiteUnsuspendView(_SiteConfirm):
    title = "Unsuspend site"
    button = "Unsuspend"

    def question(self, site):
        return f"Bring {site.domain} back online?"

    def effect(self, site):
        return change_effect(with_site_status(site.domain, SiteStatus.ACTIVE))

    def perform(self, site, data):
        site = services.site_unsuspend(site, actor=web_actor(self.request))
        return f"Site {site.domain} is active again." + deployment_note(site), site.get_absolute_url()


class SiteDeleteView(_SiteConfirm):
    title = "Delete site"
    button = "Delete"
    button_class = "danger"
    reauthenticate = True

    def question(self, site):
        return f"Delete {site.domain} and its aliases? Its vhost is removed from every front-end."

    def effect(self, site):
        return change_effect(without_site(site.domain))

    def perform(self, site, data):
        domain = site.domain
        deployment = services.site_delete(site, actor=web_actor(self.request))
        return f"Site {domain} deleted." + deployment_note(deployment), reverse("sites:site_list")


class SiteImportView(OperatorRequiredMixin, View):
    """Bulk import: 'preview' validates every row and shows per-row errors (nothing saved);
    'import' saves all rows in one transaction, or none."""

    template_name = "sites/site_import.html"

    def get(self, request):
        return render(request, self.template_name, {"form": SiteImportForm()})

    def post(self, request):
        form = SiteImportForm(request.POST, request.FILES)
        context = {"form": form}
        if form.is_valid():
            do_import = request.POST.get("action") == "import"
            result = services.site_import(
                form.cleaned_data["rows"], actor=web_actor(request), dry_run=not do_import, first_line=2
            )
            if result.imported:
                messages.success(request, f"{len(result.rows)} site(s) imported." + deployment_note(result.deployment))
                return redirect("sites:site_list")
            if do_import and result.error_count:
                messages.error(request, "Nothing was imported: fix the rows below and try again.")
            context.update(result=result, csv_text=form.cleaned_data["text"])
        return render(request, self.template_name, context, status=200)


# --- the site's certificate: "Renew now" and "Upload own certificate" (shown on the site page) ------


class CertificateRenewView(ConfirmView):
    title = "Renew the certificate now"
    button = "Renew now"

    def get_object(self):
        return get_object_or_404(Site, domain=self.kwargs["domain"])

    def question(self, site):
        return f"Order a new certificate for {hostname(site.domain)} and its aliases now?"

    def details(self, site):
        return (
            "The order skips the waiting time after a failure. Each order counts against the CA's limits "
            "(5 failed validations per name per hour): renew again only after fixing what failed."
        )

    def nothing_to_do(self, site, effect):
        return acme_unavailable()

    def perform(self, site, data):
        services.site_certificate_renew(site, actor=web_actor(self.request))
        return (
            f"Renewal of {site.domain} requested: the ACME worker orders it now (the site page shows each attempt).",
            site.get_absolute_url(),
        )


@method_decorator(sensitive_post_parameters("private_key_pem"), name="dispatch")  # kept out of error reports
class CertificateUploadView(ServiceFormView):
    form_class = CertificateUploadForm
    submit_label = "Upload certificate"

    @cached_property
    def site(self) -> Site:
        # looked up lazily, after the permission check in dispatch()
        return get_object_or_404(Site, domain=self.kwargs["domain"])

    @property
    def title(self):
        return f"Upload own certificate for {hostname(self.site.domain)}"

    def get_cancel_url(self):
        return self.site.get_absolute_url()

    def perform(self, data):
        return services.site_certificate_upload(self.site, actor=web_actor(self.request), **data)

    def form_invalid(self, form):
        form.say_the_key_is_not_kept()
        return super().form_invalid(form)

    def success_message(self, certificate):
        message = f"Own certificate of {self.site.domain} saved (valid until {certificate.not_after:%Y-%m-%d})."
        unused = getattr(certificate, "unused_names", [])
        if unused:
            message += f" Ignored (not names of this site, never served with it): {', '.join(unused)}."
        return message

    def success_url_for(self, certificate):
        return self.site.get_absolute_url()
