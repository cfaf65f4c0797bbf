"""Building blocks shared by the panel's views: service-backed form views, confirmations and
messages about the automatic deployment a change triggered."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import FormView

from hostpanel.audit import Actor
from hostpanel.forms import ServiceForm, add_service_errors
from hostpanel.permissions import OperatorRequiredMixin
from hostpanel.sessions import ask_password, password_confirmed


def web_actor(request) -> Actor:
    return Actor.from_user(request.user, source="web")


def deployment_note(obj: Any) -> str:
    """' Deployment #n queued.' when the service reported an automatic deployment."""
    deployment = getattr(obj, "deployment", None) if obj is not None and not hasattr(obj, "hosts") else obj
    if deployment is not None and getattr(deployment, "pk", None):
        return f" Deployment #{deployment.pk} ({deployment.status}) carries the change."
    return ""


class ServiceFormView(OperatorRequiredMixin, FormView):
    """A form whose valid data goes to one service call. The service's ValidationError is shown
    on the form (field-level where it names a field)."""

    template_name = "form.html"
    title = ""
    submit_label = "Save"
    cancel_url = "/"

    def perform(self, data: dict) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def success_message(self, result: Any) -> str:
        return "Saved."

    def success_url_for(self, result: Any) -> str:
        return result.get_absolute_url()

    def get_cancel_url(self) -> str:
        return self.cancel_url

    def service_data(self, form) -> dict:
        if hasattr(form, "service_kwargs"):
            return form.service_kwargs()
        return dict(form.cleaned_data)

    def form_valid(self, form):
        try:
            result = self.perform(self.service_data(form))
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, self.success_message(result) + deployment_note(result))
        return HttpResponseRedirect(self.success_url_for(result))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(title=self.title, submit_label=self.submit_label, cancel_url=self.get_cancel_url())
        return context


class ConfirmView(OperatorRequiredMixin, View):
    """GET: a confirmation page; POST: the action. Subclasses set the texts and perform()."""

    title = "Are you sure?"
    button = "Confirm"
    button_class = "primary"
    form_class = None
    # destructive (delete, rollback): the password again unless given within HOSTPANEL_REAUTH_MINUTES
    reauthenticate = False

    def get_object(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def question(self, obj) -> str:
        return ""

    def details(self, obj) -> str:
        return ""

    def cancel_url(self, obj) -> str:
        return obj.get_absolute_url()

    def effect(self, obj) -> Any:
        """What the action would change on the front-ends (balancers.selectors.effects.Effect), shown above
        the button; None: nothing to show. Computed again on a refused POST, so it is never stale."""
        return None

    def nothing_to_do(self, obj, effect: Any) -> str:
        """Why there is no button (the action would change nothing), or ""."""
        return ""

    def perform(self, obj, data: dict) -> tuple[str, str]:  # pragma: no cover - overridden
        """Do it; return (message, redirect url)."""
        raise NotImplementedError

    def render_page(self, obj, form, status: int = 200):
        effect = self.effect(obj)
        offline = list(getattr(effect, "offline", []) or [])
        button = self.button
        if offline:
            button = f"{button} and take {len(offline)} site{'s' if len(offline) > 1 else ''} offline"
        return render(
            self.request,
            "confirm.html",
            {
                "object": obj,
                "title": self.title,
                "question": self.question(obj),
                "details": self.details(obj),
                "button": button,
                "button_class": "danger" if offline else self.button_class,
                "effect": effect,
                "nothing_to_do": self.nothing_to_do(obj, effect),
                "cancel_url": self.cancel_url(obj),
                "form": form,
            },
            status=status,
        )

    def make_form(self, data=None):
        form = ServiceForm(data) if self.form_class is None else self.form_class(data)
        return ask_password(self.request, form) if self.reauthenticate else form

    def get(self, request, *args, **kwargs):
        obj = self.get_object()
        return self.render_page(obj, self.make_form())

    def post(self, request, *args, **kwargs):
        obj = self.get_object()
        form = self.make_form(request.POST)
        if form.is_valid() and password_confirmed(request, form):
            try:
                message, url = self.perform(obj, dict(form.cleaned_data))
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, message)
                return HttpResponseRedirect(url)
        return self.render_page(obj, form, status=400)


class ServiceCreateView(ServiceFormView):
    """Add one object through its create service: set `form_class`, `noun` ("Zope server"), `list_url`
    (a URL name) and `create_service` (staticmethod(services.x_create))."""

    noun = ""
    list_url = ""
    create_service: Any = None

    @property
    def title(self) -> str:
        return f"Add a {self.noun}"

    @property
    def submit_label(self) -> str:
        return f"Add {self.noun}"

    def get_cancel_url(self) -> str:
        return reverse(self.list_url)

    def perform(self, data: dict) -> Any:
        return type(self).create_service(actor=web_actor(self.request), **data)

    def success_message(self, obj: Any) -> str:
        return f"{self.noun.capitalize()} {obj.name} added."


class ServiceUpdateView(ServiceFormView):
    """Edit one object (by pk) through its update service: set `form_class`, `model`, `noun`, `fields`
    (the service's field list, for the form's initial values) and `update_service`."""

    model: Any = None
    noun = ""
    fields: tuple[str, ...] = ()
    hidden_initial: tuple[str, ...] = ()  # never sent back to the browser (passwords)
    update_service: Any = None
    submit_label = "Save changes"

    @cached_property
    def object(self) -> Any:
        return get_object_or_404(self.model, pk=self.kwargs["pk"])

    @property
    def title(self) -> str:
        return f"Edit {self.noun} {self.object.name}"

    def get_initial(self) -> dict:
        return {name: getattr(self.object, name) for name in self.fields if name not in self.hidden_initial}

    def get_cancel_url(self) -> str:
        return self.object.get_absolute_url()

    def perform(self, data: dict) -> Any:
        return type(self).update_service(self.object, actor=web_actor(self.request), **data)

    def success_message(self, obj: Any) -> str:
        return f"{self.noun.capitalize()} {obj.name} saved."


class ServiceDeleteView(ConfirmView):
    """Delete one object (by pk) through its delete service, after a confirmation that says what happens."""

    model: Any = None
    noun = ""
    list_url = ""
    warning = ""  # what deleting means, e.g. "A balancer that still has sites cannot be deleted."
    delete_service: Any = None
    button = "Delete"
    button_class = "danger"
    reauthenticate = True

    @property
    def title(self) -> str:
        return f"Delete {self.noun}"

    def get_object(self) -> Any:
        return get_object_or_404(self.model, pk=self.kwargs["pk"])

    def question(self, obj: Any) -> str:
        return f"Delete {self.noun} {obj.name}? {self.warning}".strip()

    def perform(self, obj: Any, data: dict) -> tuple[str, str]:
        name = obj.name
        deployment = type(self).delete_service(obj, actor=web_actor(self.request))
        return f"{self.noun.capitalize()} {name} deleted." + deployment_note(deployment), reverse(self.list_url)
