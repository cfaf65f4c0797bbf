from django import forms
from django.contrib import admin

from balancers import services
from balancers.models import (
    Balancer,
    BalancerMember,
    ConfigTree,
    Deployment,
    DeploymentHost,
    FrontEnd,
    ZopeServer,
)
from hostpanel.admin_base import ServiceAdmin


@admin.register(ZopeServer)
class ZopeServerAdmin(ServiceAdmin):
    list_display = ("name", "host", "port", "description")
    search_fields = ("name", "host")
    service_fields = services.ZOPE_SERVER_FIELDS
    service_create = services.zope_server_create
    service_update = services.zope_server_update
    service_delete = services.zope_server_delete


class FrontEndAdminForm(forms.ModelForm):
    # write-only: the stored password is never sent to the browser; empty keeps it
    manager_password = forms.CharField(
        label="Balancer-manager password",
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only. Leave empty to keep the stored password.",
    )

    class Meta:
        model = FrontEnd
        fields = services.FRONTEND_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["manager_password"] = ""

    def clean_manager_password(self) -> str:
        password = self.cleaned_data.get("manager_password", "")
        services.seal_manager_password(password)  # the service's checks, shown on the field
        return password


@admin.register(FrontEnd)
class FrontEndAdmin(ServiceAdmin):
    form = FrontEndAdminForm
    list_display = ("name", "address", "transport", "config_dir", "enabled")
    list_filter = ("enabled", "transport")
    search_fields = ("name", "address")
    service_fields = services.FRONTEND_FIELDS
    service_create = services.frontend_create
    service_update = services.frontend_update
    service_delete = services.frontend_delete

    def get_readonly_fields(self, request, obj=None):
        # the shell commands and config_dir: superusers only (README "Roles")
        return () if request.user.is_superuser else services.SUPERUSER_FIELDS

    def changed_fields(self, form):
        fields = super().changed_fields(form)
        if not form.data.get("manager_password"):
            fields.pop("manager_password", None)  # empty: keep the stored one
        return fields


@admin.register(Balancer)
class BalancerAdmin(ServiceAdmin):
    list_display = ("name", "lbmethod", "sticky_cookie", "render_mode")
    search_fields = ("name",)
    service_fields = services.BALANCER_FIELDS
    service_create = services.balancer_create
    service_update = services.balancer_update
    service_delete = services.balancer_delete


@admin.register(BalancerMember)
class BalancerMemberAdmin(ServiceAdmin):
    list_display = ("balancer", "zope_server", "lbset", "loadfactor", "hot_standby", "drain", "disabled")
    list_filter = ("balancer", "hot_standby", "drain", "disabled")
    list_select_related = ("balancer", "zope_server")
    service_fields = services.MEMBER_FIELDS
    service_update = services.member_update
    service_delete = services.member_delete

    @staticmethod
    def service_create(*, actor, balancer, zope_server, **fields):
        return services.member_create(actor=actor, balancer=balancer, zope_server=zope_server, **fields)

    def changed_fields(self, form):
        fields = super().changed_fields(form)
        if form.instance.pk is None:
            fields["balancer"] = form.cleaned_data["balancer"]
            fields["zope_server"] = form.cleaned_data["zope_server"]
        return fields

    def get_readonly_fields(self, request, obj=None):
        return ("balancer", "zope_server") if obj else ()


class DeploymentHostInline(admin.TabularInline):
    model = DeploymentHost
    extra = 0
    can_delete = False
    readonly_fields = [f.name for f in DeploymentHost._meta.fields]


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "trigger", "actor", "revision", "created_at", "finished_at")
    list_filter = ("status", "trigger")
    inlines = [DeploymentHostInline]
    readonly_fields = [f.name for f in Deployment._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ConfigTree)
class ConfigTreeAdmin(admin.ModelAdmin):
    list_display = ("digest", "created_at")
    readonly_fields = ("digest", "files", "created_at")

    def has_add_permission(self, request):
        return False
