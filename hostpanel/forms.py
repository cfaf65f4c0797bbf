"""Form helpers of the staff panel. Forms only translate: the services validate (full_clean with
hostpanel.validators) and their field-level ValidationErrors are shown on the form."""

from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.models import fields_for_model

from hostpanel.models import AuditEntry


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: under the field it names when the form has
    that field, else as a form-wide error naming the field."""
    if hasattr(exc, "error_dict"):
        for field, messages in exc.message_dict.items():
            if field in form.fields:
                for message in messages:
                    form.add_error(field, message)
            elif field == "__all__":
                for message in messages:
                    form.add_error(None, message)
            else:
                for message in messages:
                    form.add_error(None, f"{field.replace('_', ' ')}: {message}")
    else:
        for message in exc.messages:
            form.add_error(None, message)


class ServiceForm(forms.Form):
    """A plain form: the model's form fields (types, choices, max lengths) without model
    validation, which the service runs. Rendered by templates/includes/form_fields.html."""

    required_css_class = "required"
    error_css_class = "field-invalid"


def service_form(model: type[models.Model], fields: Iterable[str], **extra: forms.Field) -> type[ServiceForm]:
    """A ServiceForm class with the form fields Django derives from the model fields."""
    attrs: dict = dict(fields_for_model(model, fields=list(fields)))
    attrs.update(extra)
    return type(f"{model.__name__}Form", (ServiceForm,), attrs)


OBJECT_TYPES = [
    ("", "Any object"),
    ("site", "Site"),
    ("balancer", "Balancer"),
    ("balancermember", "Member"),
    ("zopeserver", "Zope server"),
    ("frontend", "Front-end"),
    ("deployment", "Deployment"),
]


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150)
    action = forms.CharField(required=False, max_length=64, help_text="e.g. site.create")
    object_type = forms.ChoiceField(label="Object type", choices=OBJECT_TYPES, required=False)
    object_key = forms.CharField(label="Object", required=False, max_length=255)
    source = forms.ChoiceField(
        label="Via",
        required=False,
        choices=[("", "Any"), *AuditEntry.Source.choices],
    )
    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
