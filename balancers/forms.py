"""Forms of the balancer, Zope server, front-end and deployment pages. They only translate:
balancers/services.py validates and its errors are shown on the form."""

from __future__ import annotations

from django import forms

from balancers.choices import MEMBER_ACTIONS, ServerKind
from balancers.models import Balancer, BalancerMember, FrontEnd, ZopeServer
from balancers.models.inventory import NODE_HEALTH_PATH
from balancers.services import (
    BALANCER_FIELDS,
    COMMAND_FIELDS,
    FRONTEND_FIELDS,
    MEMBER_FIELDS,
    SUPERUSER_FIELDS,
    ZOPE_SERVER_FIELDS,
)
from hostpanel.forms import ServiceForm, service_form

HEALTH_FIELDS = ("health_path", "health_method", "health_interval", "health_passes", "health_fails")


class ZopeServerForm(service_form(ZopeServer, ZOPE_SERVER_FIELDS)):  # type: ignore[misc]
    """An application server (Zope, or a Node.js frontend) with its health check. The health-check fields may
    be left out of a POST (a script written for the form before them): a new server gets the defaults (health
    path / for Zope, /ok for a Node.js frontend), an edited one keeps its own. A POST without `kind` is Zope."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in HEALTH_FIELDS:
            self.fields[name].required = False
        self.fields["kind"].required = False
        self.fields["kind"].label = "Application server"
        self.fields["kind"].help_text = (
            "Zope: a Plone backend (every page of a Classic UI site, the API of a Volto site). Node.js frontend: "
            "one Volto build's server (the pages of Volto sites); it can only join a frontend balancer."
        )
        if not self.initial.get("health_path"):  # a new server: the default depends on its kind
            self.initial["health_path"] = ""
            self.fields["health_path"].help_text += f" Empty: / for Zope, {NODE_HEALTH_PATH} for a Node.js frontend."

    def service_kwargs(self) -> dict:
        return {
            k: v for k, v in self.cleaned_data.items() if not ((k in HEALTH_FIELDS or k == "kind") and v in (None, ""))
        }


class BalancerForm(service_form(Balancer, BALANCER_FIELDS)):  # type: ignore[misc]
    """A balancer groups servers of one kind. A POST without `kind` is a Zope balancer (new) or unchanged."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].required = False
        self.fields["kind"].label = "Groups"
        self.fields["kind"].help_text = (
            "Zope servers (a site's balancer), or the Node.js frontend servers of ONE Volto build (a Volto "
            "site's frontend balancer; never two customers' builds in one balancer). Fixed once it has members "
            "or sites."
        )

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        if not data.get("kind"):
            data.pop("kind", None)
        return data


MemberEditForm = service_form(BalancerMember, MEMBER_FIELDS)
_MemberCreateBase = service_form(
    BalancerMember,
    MEMBER_FIELDS,
    zope_server=forms.ModelChoiceField(queryset=ZopeServer.objects.order_by("name"), label="Server"),
)


class MemberCreateForm(_MemberCreateBase):  # type: ignore[misc,valid-type]
    """A new member: only the servers of the balancer's kind are offered (the model refuses the others)."""

    def __init__(self, *args, balancer: Balancer | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if balancer is not None:
            kind = ServerKind(balancer.kind)
            field = self.fields["zope_server"]
            field.queryset = ZopeServer.objects.filter(kind=kind).order_by("name")
            field.label = "Zope server" if kind == ServerKind.ZOPE else "Node.js frontend server"
            field.error_messages["invalid_choice"] = (
                f"Choose a {kind.label} server: {balancer.name} groups {kind.label} servers only."
            )


# zope_server first in the form
MemberCreateForm.base_fields = {
    "zope_server": MemberCreateForm.base_fields["zope_server"],
    **{k: v for k, v in MemberCreateForm.base_fields.items() if k != "zope_server"},
}

_FrontEndBase = service_form(
    FrontEnd,
    FRONTEND_FIELDS,
    ssh_host_key=forms.CharField(
        label="SSH host key",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=FrontEnd._meta.get_field("ssh_host_key").help_text,
    ),
    manager_password=forms.CharField(
        label="Balancer-manager password",
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored password.",
    ),
)


class FrontEndForm(_FrontEndBase):
    """The shell-command fields and config_dir are shown to everyone but only a superuser may change them."""

    def __init__(self, *args, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.may_set_commands = bool(user is not None and user.is_superuser)
        if not self.may_set_commands:
            for name in SUPERUSER_FIELDS:
                self.fields[name].disabled = True
                self.fields[name].help_text = (
                    "Only a superuser may change the commands run on the front-end."
                    if name in COMMAND_FIELDS
                    else "Only a superuser may change the usage log directory (the panel removes files there)."
                    if name == "usage_log_dir"
                    else "Only a superuser may change the directory each deploy replaces on the front-end."
                )

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        if not data.get("manager_password"):
            data.pop("manager_password", None)  # empty: keep the stored one
        if not self.may_set_commands:
            for name in SUPERUSER_FIELDS:
                data.pop(name, None)
        return data


MEMBER_STATES = {key: (label, flags) for key, (label, _state, _help, flags) in MEMBER_ACTIONS.items()}


class MemberToggleForm(ServiceForm):
    force = forms.BooleanField(
        required=False,
        label="Even if it is the last active member",
        help_text="Only needed when the panel refuses because no other member would take traffic.",
    )


class DeployForm(ServiceForm):
    accept_differences = forms.BooleanField(
        required=False,
        label="I have reviewed the equivalence differences of the imported front-ends listed above and accept them",
    )


MAX_UPLOAD_BYTES = 32 * 1024 * 1024


class ImportSourceForm(ServiceForm):
    """Where the config to import comes from: a registered front-end (read over SSH) or an upload."""

    frontend = forms.ModelChoiceField(
        queryset=FrontEnd.objects.order_by("name"),
        required=False,
        empty_label="(upload an archive instead)",
        help_text="Read its live config over SSH, with the same connection as deploys.",
    )
    config_root = forms.CharField(
        initial="/etc/apache2", max_length=255, help_text="The Apache config directory on the front-end."
    )
    archive = forms.FileField(
        required=False,
        help_text="A .tar.gz, .tgz or .zip of the config directory (apache2.conf or httpd.conf at its top, "
        "links resolved: tar -czhf etc-apache2.tgz -C /etc apache2).",
    )

    def clean(self):
        data = super().clean()
        if bool(data.get("frontend")) == bool(data.get("archive")):
            raise forms.ValidationError("Choose a front-end or upload an archive (one of the two).")
        if data.get("archive") and data["archive"].size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The archive is larger than {MAX_UPLOAD_BYTES // 1024 // 1024} MB.")
        if data.get("frontend") and not str(data.get("config_root", "")).startswith("/"):
            self.add_error("config_root", "An absolute directory, e.g. /etc/apache2.")
        return data


class ImportConfirmForm(ServiceForm):
    fingerprint = forms.CharField(widget=forms.HiddenInput, max_length=64)
    accept_warnings = forms.BooleanField(
        required=False, label="I have read every warning above and want to import anyway"
    )


class EquivalenceForm(ServiceForm):
    fingerprint = forms.CharField(widget=forms.HiddenInput, max_length=64)
    sample = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=100_000,
        help_text="Check only this many sites, evenly spread (empty: every site).",
    )


class PeakClientsForm(forms.Form):
    """The front-end page's sizing question: how many clients at once (GET; nothing is saved)."""

    peak_clients = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=1_000_000,
        label="Peak concurrent clients",
        help_text="Empty: the most seen in this front-end's mod_status samples.",
    )
