from django.contrib import admin

from hostpanel.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("timestamp", "actor", "source", "action", "object_type", "object_key")
    list_filter = ("source", "object_type", "action")
    search_fields = ("actor", "object_key", "action")
    date_hierarchy = "timestamp"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
