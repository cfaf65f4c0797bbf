"""Panel-wide pages: login and the audit log (the home page is the dashboard, balancers:dashboard)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.core.paginator import Paginator
from django.views.generic import TemplateView

from hostpanel.forms import AuditFilterForm
from hostpanel.models import AuditEntry
from hostpanel.permissions import PanelAccessMixin


class LoginView(auth_views.LoginView):
    """Django's login view. Its AuthenticationForm passes the request to authenticate(), which is
    what django-axes (AxesStandaloneBackend + AxesMiddleware) needs to count and lock failures."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True


class AuditListView(PanelAccessMixin, TemplateView):
    """Who changed what and when, through any door (web, API, admin, commands)."""

    template_name = "audit_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = AuditFilterForm(self.request.GET)
        qs = AuditEntry.objects.all()
        if form.is_valid():
            data = form.cleaned_data
            if data["actor"]:
                qs = qs.filter(actor__icontains=data["actor"])
            if data["action"]:
                qs = qs.filter(action__icontains=data["action"])
            if data["object_type"]:
                qs = qs.filter(object_type=data["object_type"])
            if data["source"]:
                qs = qs.filter(source=data["source"])
            if data["object_key"]:
                qs = qs.filter(object_key__icontains=data["object_key"])
            if data["date_from"]:
                qs = qs.filter(timestamp__date__gte=data["date_from"])
            if data["date_to"]:
                qs = qs.filter(timestamp__date__lte=data["date_to"])
        page = Paginator(qs, 50).get_page(self.request.GET.get("page"))
        context.update(filter_form=form, page=page, entries=list(page.object_list))
        return context
