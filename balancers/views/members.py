"""Pages of balancer members: add, edit, delete, and the hot standby / drain / disable toggle."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.utils.functional import cached_property
from django.views import View

from balancers import services
from balancers.choices import help_of
from balancers.forms import (
    MEMBER_STATES,
    MemberCreateForm,
    MemberEditForm,
    MemberToggleForm,
)
from balancers.models import Balancer, BalancerMember
from balancers.selectors.effects import change_effect, with_member_state, without_member
from hostpanel.forms import add_service_errors
from hostpanel.permissions import OperatorRequiredMixin
from hostpanel.web import ConfirmView, ServiceFormView, deployment_note, web_actor


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

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "balancer": self.balancer}

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
    reauthenticate = True

    def get_object(self):
        return self.member

    def question(self, member):
        return f"Remove {member.zope_server.name} from balancer {member.balancer.name}?"

    def effect(self, member):
        return change_effect(without_member(member.balancer.name, member.zope_server.name))

    def perform(self, member, data):
        url = member.get_absolute_url()
        deployment = services.member_delete(member, actor=web_actor(self.request))
        return f"{member.zope_server.name} removed." + deployment_note(deployment), url


class MemberToggleView(_MemberMixin, OperatorRequiredMixin, View):
    """Hot standby / drain / disable / back to active: a confirmation, then the per-front-end result."""

    template_name = "balancers/member_toggle.html"

    def state(self) -> tuple[str, str, dict[str, bool]]:
        key = self.kwargs["state"]
        if key not in MEMBER_STATES:
            raise Http404("Unknown member state.")
        label, flags = MEMBER_STATES[key]
        return key, label, flags

    def effect(self, flags: dict[str, bool]):
        return change_effect(with_member_state(self.member.balancer.name, self.member.zope_server.name, **flags))

    def get(self, request, *args, **kwargs):
        key, label, flags = self.state()
        context = {"member": self.member, "state": key, "label": label, "form": MemberToggleForm()}
        return render(request, self.template_name, {**context, "effect": self.effect(flags), **help_of(key)})

    def post(self, request, *args, **kwargs):
        key, label, flags = self.state()
        member = self.member
        form = MemberToggleForm(request.POST)
        context = {"member": member, "state": key, "label": label, "form": form, **help_of(key)}
        if form.is_valid():
            try:
                result = services.member_set_flags(
                    member, actor=web_actor(request), force=form.cleaned_data["force"], **flags
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
                context["effect"] = self.effect(flags)
                return render(request, self.template_name, context, status=200)
            saved = result.member
            message = f"{saved.zope_server.name} in {saved.balancer.name} is now: {saved.state}."
            context["member"] = saved
            messages.success(request, message + deployment_note(result))
            context.update(done=True, result=result.frontends)  # per-front-end results
        return render(request, self.template_name, context)
