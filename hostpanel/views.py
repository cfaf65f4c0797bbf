"""Panel-wide pages: the placeholder home page and the audit log."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.views.generic import TemplateView

from hostpanel.permissions import PanelAccessMixin


class HomeView(PanelAccessMixin, TemplateView):
    """Placeholder home page; the dashboard (balancers:dashboard) replaces it at '/'."""

    template_name = "home.html"


class LoginView(auth_views.LoginView):
    """Django's login view. Its AuthenticationForm passes the request to authenticate(), which is
    what django-axes (AxesStandaloneBackend + AxesMiddleware) needs to count and lock failures."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True
