"""Pages of balancers, members, Zope servers, front-ends and deployments: thin doors into
balancers/services.py (writes) and balancers/deploy.py (deploy, rollback, connection test), which
is looked up lazily so these pages work before the deploy module is installed."""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import TemplateView

from balancers import deploy, services
from balancers.choices import HostStage, HostStatus
from balancers.forms import (
    MEMBER_STATES,
    BalancerForm,
    DeployForm,
    FrontEndForm,
    MemberCreateForm,
    MemberEditForm,
    MemberToggleForm,
    ZopeServerForm,
)
from balancers.models import Balancer, BalancerMember, ConfigTree, Deployment, DeploymentHost, FrontEnd, ZopeServer
from hostpanel.forms import add_service_errors
from hostpanel.permissions import OperatorRequiredMixin, PanelAccessMixin
from hostpanel.web import ConfirmView, ServiceFormView, deployment_note, web_actor
from sites.models import Site

DIFF_MAX_LINES = 3000


# --- balancers ---------------------------------------------------------------------------------


class BalancerListView(PanelAccessMixin, TemplateView):
    template_name = "balancers/balancer_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        balancers = list(Balancer.objects.annotate(member_count=Count("members")).order_by("name"))
        site_counts = dict(Site.objects.values_list("balancer").annotate(n=Count("id")).values_list("balancer", "n"))
        for balancer in balancers:
            balancer.site_count = site_counts.get(balancer.pk, 0)
        context["balancers"] = balancers
        return context


class BalancerDetailView(PanelAccessMixin, TemplateView):
    template_name = "balancers/balancer_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        balancer = get_object_or_404(Balancer, pk=kwargs["pk"])
        members = list(
            BalancerMember.objects.filter(balancer=balancer)
            .select_related("zope_server")
            .order_by("lbset", "zope_server__name")
        )
        for member in members:
            member.balancer = balancer  # no query per member for str()/urls
        site_counts = dict(
            Site.objects.filter(balancer=balancer)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        context.update(
            balancer=balancer,
            members=members,
            site_count=sum(site_counts.values()),
            suspended_count=site_counts.get("suspended", 0),
            states=[(key, label) for key, (label, _flags) in MEMBER_STATES.items()],
        )
        return context


class BalancerCreateView(ServiceFormView):
    form_class = BalancerForm
    title = "Add a balancer"
    submit_label = "Add balancer"

    def get_cancel_url(self):
        return reverse("balancers:balancer_list")

    def perform(self, data):
        return services.balancer_create(actor=web_actor(self.request), **data)

    def success_message(self, balancer):
        return f"Balancer {balancer.name} added."


class BalancerUpdateView(ServiceFormView):
    form_class = BalancerForm
    submit_label = "Save changes"

    @cached_property
    def balancer(self) -> Balancer:
        return get_object_or_404(Balancer, pk=self.kwargs["pk"])

    @property
    def title(self):
        return f"Edit balancer {self.balancer.name}"

    def get_initial(self):
        return {name: getattr(self.balancer, name) for name in services.BALANCER_FIELDS}

    def get_cancel_url(self):
        return self.balancer.get_absolute_url()

    def perform(self, data):
        return services.balancer_update(self.balancer, actor=web_actor(self.request), **data)

    def success_message(self, balancer):
        return f"Balancer {balancer.name} saved."


class BalancerDeleteView(ConfirmView):
    title = "Delete balancer"
    button = "Delete"
    button_class = "danger"

    def get_object(self):
        return get_object_or_404(Balancer, pk=self.kwargs["pk"])

    def question(self, balancer):
        return f"Delete balancer {balancer.name} and its members? A balancer that still has sites cannot be deleted."

    def perform(self, balancer, data):
        name = balancer.name
        deployment = services.balancer_delete(balancer, actor=web_actor(self.request))
        return f"Balancer {name} deleted." + deployment_note(deployment), reverse("balancers:balancer_list")


# --- members -------------------------------------------------------------------------------------


class MemberCreateView(ServiceFormView):
    form_class = MemberCreateForm
    submit_label = "Add member"

    @cached_property
    def balancer(self) -> Balancer:
        return get_object_or_404(Balancer, pk=self.kwargs["pk"])

    @property
    def title(self):
        return f"Add a member to {self.balancer.name}"

    def get_cancel_url(self):
        return self.balancer.get_absolute_url()

    def perform(self, data):
        return services.member_create(actor=web_actor(self.request), balancer=self.balancer, **data)

    def success_message(self, member):
        return f"{member.zope_server.name} added to {self.balancer.name}."


class _MemberMixin:
    @cached_property
    def member(self) -> BalancerMember:
        return get_object_or_404(
            BalancerMember.objects.select_related("balancer", "zope_server"),
            pk=self.kwargs["member_pk"],
            balancer_id=self.kwargs["pk"],
        )


class MemberUpdateView(_MemberMixin, ServiceFormView):
    form_class = MemberEditForm
    submit_label = "Save changes"

    @property
    def title(self):
        return f"Edit member {self.member.zope_server.name} of {self.member.balancer.name}"

    def get_initial(self):
        return {name: getattr(self.member, name) for name in services.MEMBER_FIELDS}

    def get_cancel_url(self):
        return self.member.get_absolute_url()

    def perform(self, data):
        return services.member_update(self.member, actor=web_actor(self.request), **data)

    def success_message(self, member):
        return f"Member {member.zope_server.name} saved."


class MemberDeleteView(_MemberMixin, ConfirmView):
    title = "Remove member"
    button = "Remove"
    button_class = "danger"

    def get_object(self):
        return self.member

    def question(self, member):
        return f"Remove {member.zope_server.name} from balancer {member.balancer.name}?"

    def perform(self, member, data):
        url = member.get_absolute_url()
        deployment = services.member_delete(member, actor=web_actor(self.request))
        return f"{member.zope_server.name} removed." + deployment_note(deployment), url


def apply_member_flags(member: BalancerMember, *, actor, flags: dict[str, bool], force: bool) -> Any:
    """Seam for the live toggle: balancers.services.member_set_flags (built with the dashboard)
    saves the flags and applies them through each front-end's balancer-manager, returning
    per-front-end results. Until it exists, member_update saves them (the automatic deployment
    carries them to the front-ends) and there are no per-front-end results."""
    set_flags = getattr(services, "member_set_flags", None)
    if set_flags is None:
        services.member_update(member, actor=actor, **flags)
        return None
    kwargs: dict[str, Any] = dict(flags)
    if "force" in inspect.signature(set_flags).parameters:
        kwargs["force"] = force
    return set_flags(member, actor=actor, **kwargs)


class MemberToggleView(_MemberMixin, OperatorRequiredMixin, View):
    """Hot standby / drain / disable / back to active: a confirmation, then the per-front-end result."""

    template_name = "balancers/member_toggle.html"

    def state(self) -> tuple[str, str, dict[str, bool]]:
        key = self.kwargs["state"]
        if key not in MEMBER_STATES:
            raise Http404("Unknown member state.")
        label, flags = MEMBER_STATES[key]
        return key, label, flags

    def get(self, request, *args, **kwargs):
        key, label, flags = self.state()
        return render(
            request,
            self.template_name,
            {"member": self.member, "state": key, "label": label, "form": MemberToggleForm()},
        )

    def post(self, request, *args, **kwargs):
        key, label, flags = self.state()
        member = self.member
        form = MemberToggleForm(request.POST)
        context = {"member": member, "state": key, "label": label, "form": form}
        if form.is_valid():
            try:
                result = apply_member_flags(
                    member, actor=web_actor(request), flags=flags, force=form.cleaned_data["force"]
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
                return render(request, self.template_name, context, status=200)
            saved = getattr(result, "member", member)
            message = f"{saved.zope_server.name} in {saved.balancer.name} is now: {saved.state}."
            if result is None:
                messages.success(request, message + deployment_note(member))
                return HttpResponseRedirect(member.get_absolute_url())
            context["member"] = getattr(result, "member", member)
            messages.success(request, message + deployment_note(result))
            context.update(done=True, result=getattr(result, "frontends", result))  # per-front-end results
        return render(request, self.template_name, context)


# --- Zope servers ----------------------------------------------------------------------------------


class ZopeServerListView(PanelAccessMixin, TemplateView):
    template_name = "balancers/zopeserver_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["servers"] = ZopeServer.objects.annotate(member_count=Count("memberships")).order_by("name")
        return context


class ZopeServerDetailView(PanelAccessMixin, TemplateView):
    template_name = "balancers/zopeserver_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        server = get_object_or_404(ZopeServer, pk=kwargs["pk"])
        context.update(server=server, memberships=server.memberships.select_related("balancer"))
        return context


class ZopeServerCreateView(ServiceFormView):
    form_class = ZopeServerForm
    title = "Add a Zope server"
    submit_label = "Add Zope server"

    def get_cancel_url(self):
        return reverse("balancers:zopeserver_list")

    def perform(self, data):
        return services.zope_server_create(actor=web_actor(self.request), **data)

    def success_message(self, server):
        return f"Zope server {server.name} added."


class ZopeServerUpdateView(ServiceFormView):
    form_class = ZopeServerForm
    submit_label = "Save changes"

    @cached_property
    def server(self) -> ZopeServer:
        return get_object_or_404(ZopeServer, pk=self.kwargs["pk"])

    @property
    def title(self):
        return f"Edit Zope server {self.server.name}"

    def get_initial(self):
        return {name: getattr(self.server, name) for name in services.ZOPE_SERVER_FIELDS}

    def get_cancel_url(self):
        return self.server.get_absolute_url()

    def perform(self, data):
        return services.zope_server_update(self.server, actor=web_actor(self.request), **data)

    def success_message(self, server):
        return f"Zope server {server.name} saved."


class ZopeServerDeleteView(ConfirmView):
    title = "Delete Zope server"
    button = "Delete"
    button_class = "danger"

    def get_object(self):
        return get_object_or_404(ZopeServer, pk=self.kwargs["pk"])

    def question(self, server):
        return f"Delete Zope server {server.name}? A server that is still a balancer member cannot be deleted."

    def perform(self, server, data):
        name = server.name
        services.zope_server_delete(server, actor=web_actor(self.request))
        return f"Zope server {name} deleted.", reverse("balancers:zopeserver_list")


# --- front-ends ----------------------------------------------------------------------------------


class FrontEndListView(PanelAccessMixin, TemplateView):
    template_name = "balancers/frontend_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["frontends"] = FrontEnd.objects.order_by("name")
        return context


class FrontEndDetailView(PanelAccessMixin, TemplateView):
    template_name = "balancers/frontend_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        frontend = get_object_or_404(FrontEnd, pk=kwargs["pk"])
        context.update(
            frontend=frontend,
            recent=DeploymentHost.objects.filter(frontend=frontend).select_related("deployment").order_by("-id")[:10],
        )
        return context


class FrontEndCreateView(ServiceFormView):
    form_class = FrontEndForm
    title = "Add a front-end"
    submit_label = "Add front-end"

    def get_cancel_url(self):
        return reverse("balancers:frontend_list")

    def perform(self, data):
        return services.frontend_create(actor=web_actor(self.request), **data)

    def success_message(self, frontend):
        return f"Front-end {frontend.name} added."


class FrontEndUpdateView(ServiceFormView):
    form_class = FrontEndForm
    submit_label = "Save changes"

    @cached_property
    def frontend(self) -> FrontEnd:
        return get_object_or_404(FrontEnd, pk=self.kwargs["pk"])

    @property
    def title(self):
        return f"Edit front-end {self.frontend.name}"

    def get_initial(self):
        initial = {name: getattr(self.frontend, name) for name in services.FRONTEND_FIELDS}
        initial.pop("manager_password")  # never sent back to the browser
        return initial

    def get_cancel_url(self):
        return self.frontend.get_absolute_url()

    def perform(self, data):
        return services.frontend_update(self.frontend, actor=web_actor(self.request), **data)

    def success_message(self, frontend):
        return f"Front-end {frontend.name} saved."


class FrontEndDeleteView(ConfirmView):
    title = "Delete front-end"
    button = "Delete"
    button_class = "danger"

    def get_object(self):
        return get_object_or_404(FrontEnd, pk=self.kwargs["pk"])

    def question(self, frontend):
        return f"Delete front-end {frontend.name}? The panel stops deploying to it; its Apache is not touched."

    def perform(self, frontend, data):
        name = frontend.name
        services.frontend_delete(frontend, actor=web_actor(self.request))
        return f"Front-end {name} deleted.", reverse("balancers:frontend_list")


class FrontEndTestView(OperatorRequiredMixin, View):
    """POST: SSH login, pinned host key and configtest, each step's result (balancers.deploy)."""

    def post(self, request, pk):
        frontend = get_object_or_404(FrontEnd, pk=pk)
        context = {"frontend": frontend, "steps": None, "error": ""}
        try:
            context["steps"] = deploy.frontend_test_connection(frontend)
        except Exception as exc:  # noqa: BLE001 - show any failure of the test itself to the operator
            context["error"] = f"{type(exc).__name__}: {exc}"
        return render(request, "balancers/frontend_test.html", context)


# --- deployments ---------------------------------------------------------------------------------

STAGE_ORDER = [s.value for s in HostStage]
FINISHED_HOST = {HostStatus.SUCCEEDED, HostStatus.UNCHANGED, HostStatus.FAILED, HostStatus.ROLLED_BACK}


def host_progress(host: DeploymentHost) -> list[tuple[str, str]]:
    """(stage label, 'done' | 'current' | '') for the progress display of one host."""
    shown = [s for s in HostStage if s not in (HostStage.QUEUED, HostStage.RESTORE)]
    try:
        reached = STAGE_ORDER.index(host.stage)
    except ValueError:
        reached = 0
    finished = host.status in FINISHED_HOST
    out = []
    for stage in shown:
        index = STAGE_ORDER.index(stage.value)
        if index < reached or (finished and index == reached):
            out.append((stage.label, "done"))
        elif index == reached:
            out.append((stage.label, "current"))
        else:
            out.append((stage.label, ""))
    return out


def deployment_hosts(deployment: Deployment) -> list[DeploymentHost]:
    hosts = list(deployment.hosts.order_by("frontend_name"))
    for host in hosts:
        host.progress = host_progress(host)
    return hosts


def unified_tree_diff(old: dict[str, str] | None, new: dict[str, str] | None, *, label: str) -> list[str]:
    """A unified diff of two rendered trees ({path: text}), file by file, capped in length."""
    old, new = old or {}, new or {}
    lines: list[str] = []
    for path in sorted(set(old) | set(new)):
        if old.get(path) == new.get(path):
            continue
        lines.extend(
            difflib.unified_diff(
                (old.get(path) or "").splitlines(),
                (new.get(path) or "").splitlines(),
                fromfile=f"a/{path}" if path in old else "/dev/null",
                tofile=f"b/{path}" if path in new else "/dev/null",
                lineterm="",
            )
        )
        if len(lines) > DIFF_MAX_LINES:
            lines = lines[:DIFF_MAX_LINES] + [f"… diff of {label} cut at {DIFF_MAX_LINES} lines"]
            break
    return lines


def deployment_diffs(deployment: Deployment) -> list[dict[str, Any]]:
    """Per host: the diff of its tree against the tree of that host's previous deployment."""
    hosts = list(
        deployment.hosts.filter(tree__isnull=False).order_by("frontend_name").values("frontend_name", "tree_id")
    )
    if not hosts:
        return []
    names = [h["frontend_name"] for h in hosts]
    previous: dict[str, int] = {}
    for name, tree_id in (
        DeploymentHost.objects.filter(
            deployment_id__lt=deployment.pk,
            frontend_name__in=names,
            tree__isnull=False,
            status__in=[HostStatus.SUCCEEDED, HostStatus.UNCHANGED],
        )
        .order_by("frontend_name", "-deployment_id")
        .values_list("frontend_name", "tree_id")
    ):
        previous.setdefault(name, tree_id)
    tree_ids = {h["tree_id"] for h in hosts} | set(previous.values())
    trees = {t.pk: t.files for t in ConfigTree.objects.filter(pk__in=tree_ids)}
    diffs = []
    for host in hosts:
        name = host["frontend_name"]
        old_id = previous.get(name)
        lines = unified_tree_diff(trees.get(old_id), trees.get(host["tree_id"]), label=name)
        diffs.append({"frontend": name, "first": old_id is None, "same": old_id == host["tree_id"], "lines": lines})
    return diffs


class DeploymentListView(PanelAccessMixin, TemplateView):
    template_name = "balancers/deployment_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        qs = Deployment.objects.annotate(host_count=Count("hosts")).order_by("-created_at", "-id")
        page = Paginator(qs, 50).get_page(self.request.GET.get("page"))
        context.update(page=page, deployments=list(page.object_list))
        return context


class DeploymentDetailView(PanelAccessMixin, TemplateView):
    template_name = "balancers/deployment_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        deployment = get_object_or_404(Deployment, pk=kwargs["pk"])
        context.update(
            deployment=deployment,
            hosts=deployment_hosts(deployment),
            diffs=deployment_diffs(deployment),
        )
        return context


class DeploymentProgressView(PanelAccessMixin, View):
    """The per-host progress partial the detail page polls every 2 s while the deployment runs."""

    def get(self, request, pk):
        deployment = get_object_or_404(Deployment, pk=pk)
        return render(
            request,
            "balancers/_deployment_progress.html",
            {"deployment": deployment, "hosts": deployment_hosts(deployment)},
        )


class DeploymentRollbackView(ConfirmView):
    title = "Roll back"
    button = "Roll back to this revision"
    button_class = "danger"

    def get_object(self):
        return get_object_or_404(Deployment, pk=self.kwargs["pk"])

    def question(self, deployment):
        return (
            f"Deploy the configuration of deployment #{deployment.pk} (revision {deployment.revision[:12] or '?'}) "
            "again to every front-end?"
        )

    def perform(self, deployment, data):
        try:
            new = deploy.deployment_rollback(deployment, actor=web_actor(self.request))
        except ValueError as exc:  # e.g. no stored tree to roll back to
            raise ValidationError(str(exc)) from None
        return f"Rollback started as deployment #{new.pk}.", new.get_absolute_url()


def pending_changes() -> list[dict[str, Any]]:
    """Per front-end, what 'Deploy now' would change: balancers.deploy.frontend_pending_diff(frontend)
    (a unified diff against the live files read from the host). A host that cannot be read shows its
    error instead of a diff."""
    out = []
    for frontend in FrontEnd.objects.filter(enabled=True).order_by("name"):
        entry: dict[str, Any] = {"frontend": frontend.name, "error": "", "lines": [], "same": False}
        try:
            diff = deploy.frontend_pending_diff(frontend)
        except Exception as exc:  # noqa: BLE001 - an unreachable host must not hide the others
            entry["error"] = str(getattr(exc, "message", "") or exc)
        else:
            lines = diff.splitlines() if isinstance(diff, str) else list(diff or [])
            entry["lines"] = lines[:DIFF_MAX_LINES]
            entry["same"] = not lines
        out.append(entry)
    return out


class DeployNowView(OperatorRequiredMixin, View):
    """GET: what would change on each front-end; POST: start the deployment and show its progress."""

    template_name = "balancers/deploy_now.html"

    def get(self, request):
        try:
            diffs, preview_error = pending_changes(), ""
        except Exception as exc:  # noqa: BLE001 - a failing preview must not hide the page
            diffs, preview_error = None, f"{type(exc).__name__}: {exc}"
        return render(
            request,
            self.template_name,
            {
                "form": DeployForm(),
                "preview_error": preview_error,
                "diffs": diffs,
                "frontends": FrontEnd.objects.filter(enabled=True).order_by("name"),
            },
        )

    def post(self, request):
        try:
            deployment = deploy.deployment_start(actor=web_actor(request), trigger="manual")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return HttpResponseRedirect(reverse("balancers:deploy_now"))
        except ValueError as exc:  # e.g. no front-end to deploy to
            messages.error(request, f"Nothing was deployed: {exc}.")
            return HttpResponseRedirect(reverse("balancers:deploy_now"))
        if deployment is None:
            messages.info(request, "Nothing to deploy.")
            return HttpResponseRedirect(reverse("balancers:deployment_list"))
        messages.success(request, f"Deployment #{deployment.pk} started.")
        return HttpResponseRedirect(deployment.get_absolute_url())
