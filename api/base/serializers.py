"""What every area's serializers share: the id of the deployment a write triggered, and the answer of a
delete. Serializers only translate between JSON and the services' arguments: they check types, never
content. Every value is validated by the services (full_clean + hostpanel.validators), so a hostile
value gets the same message here as in the web panel."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field({"type": "integer", "nullable": True, "readOnly": True})
class DeploymentIdField(serializers.Field):
    """The id of the deployment this write triggered (null when none: automatic deploy off, or no change)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(read_only=True, source="*")
        kwargs.setdefault(
            "help_text", "Id of the deployment this write triggered; null when none (GET, or automatic deploy off)."
        )
        super().__init__(**kwargs)

    def to_representation(self, instance: Any) -> int | None:
        deployment = getattr(instance, "deployment", None)
        return getattr(deployment, "pk", None)


class DeletedSerializer(serializers.Serializer):
    deleted = serializers.CharField(help_text="The natural key of the deleted object.")
    deployment = serializers.IntegerField(allow_null=True, help_text="The deployment that carries the change.")
