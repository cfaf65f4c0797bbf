from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from hostpanel.admin_base import ServiceAdmin
from sites import services
from sites.models import Site


class SiteAdminForm(forms.ModelForm):
    aliases_text = forms.CharField(
        label="Aliases", required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="One host name per line."
    )

    class Meta:
        model = Site
        fields = ("domain", "balancer", "plone_path", "customer_ref")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["aliases_text"].initial = "\n".join(a.name for a in self.instance.aliases.all())

    def alias_lines(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data.get("aliases_text", "").splitlines()]

    def _post_clean(self):
        super()._post_clean()  # the model's own full_clean()
        if self.errors:
            return
        # the checks that span the site and its aliases (host names claimed elsewhere), as form errors:
        # the service would refuse them in save_model, where the admin can only answer 500
        try:
            services.site_check(self.instance, aliases=self.alias_lines())
        except ValidationError as exc:
            for field, errors in exc.error_dict.items():
                target = "aliases_text" if field == "aliases" else field if field in self.fields else None
                self.add_error(target, errors)


@admin.register(Site)
class SiteAdmin(ServiceAdmin):
    form = SiteAdminForm
    list_display = ("domain", "balancer", "plone_path", "status", "customer_ref", "updated_at")
    list_filter = ("status", "balancer")
    search_fields = ("domain", "aliases__name", "customer_ref")
    list_select_related = ("balancer",)
    readonly_fields = ("status", "suspended_reason", "created_at", "updated_at")
    service_fields = services.SITE_FIELDS
    service_create = services.site_create
    service_update = services.site_update
    service_delete = services.site_delete

    def changed_fields(self, form):
        fields = super().changed_fields(form)
        fields["aliases"] = form.alias_lines()
        return fields
