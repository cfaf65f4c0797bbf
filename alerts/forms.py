"""Forms of the alerts pages. They only translate: alerts.services validates."""

from __future__ import annotations

from django import forms

from alerts.choices import AlertEvent, ChannelKind
from hostpanel.forms import ServiceForm


class AlertChannelForm(ServiceForm):
    name = forms.CharField(max_length=64, help_text="e.g. oncall-mail")
    kind = forms.ChoiceField(choices=ChannelKind.choices)
    target = forms.CharField(
        max_length=500,
        help_text="An e-mail address, the webhook's http(s) URL, or for a file channel a file name (e.g. "
        "alerts.jsonl), written under the panel's var directory in alerts/.",
    )
    events = forms.MultipleChoiceField(
        choices=AlertEvent.choices, widget=forms.CheckboxSelectMultiple, help_text="Which events go to this channel."
    )
    secret = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False),
        help_text="Webhooks: the shared secret the receiver checks X-HostPanel-Signature with. "
        "Leave empty to keep the stored one.",
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        if not data.get("secret"):
            data.pop("secret", None)  # empty: keep the stored one
        return data
