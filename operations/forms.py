"""Forms of the operations pages. They only translate: operations.services validates."""

from __future__ import annotations

from django import forms

from hostpanel.forms import service_form
from operations.models import COMMAND_FIELDS, ZopeServerOps
from operations.services import OPS_FIELDS

_OpsBase = service_form(
    ZopeServerOps,
    OPS_FIELDS,
    ssh_host_key=forms.CharField(
        label="SSH host key of the Zope host",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=ZopeServerOps._meta.get_field("ssh_host_key").help_text,
    ),
)


class ZopeServerOpsForm(_OpsBase):
    """The restart command and its SSH login are shown to everyone but editable by superusers only. A Node.js
    frontend server has no health path here: a rolling restart checks its own (the server's page)."""

    def __init__(self, *args, superuser: bool = False, node: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.superuser = superuser
        self.fields["transport"].required = False  # not given: unchanged (SSH for a new one)
        if node:
            del self.fields["health_path"]
            self.fields["ssh_host_key"].label = "SSH host key of the Node.js server's host"
        if not superuser:
            for name in COMMAND_FIELDS:
                self.fields[name].disabled = True
                self.fields[name].help_text = "Only a superuser may change this. " + (self.fields[name].help_text or "")

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        if not data.get("transport"):
            data.pop("transport", None)
        if not self.superuser:
            for name in COMMAND_FIELDS:
                data.pop(name, None)
        return data
