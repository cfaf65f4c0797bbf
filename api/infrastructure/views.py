"""The operators' inventory: Zope servers, front-ends, balancers and members, looked up by name (members
by id). Thin doors into balancers.services; a member's live toggles answer each front-end's outcome."""

from __future__ import annotations

import django_filters
from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.response import Response

from api.base.views import DELETE_SCHEMA, ApiMixin
from api.infrastructure.serializers import (
    BalancerSerializer,
    FrontEndSerializer,
    MemberSerializer,
    ZopeServerSerializer,
)
from balancers import services as balancer_services
from balancers.choices import ServerKind
from balancers.models import Balancer, BalancerMember, FrontEnd, ZopeServer
from balancers.selectors.effects import change_effect, with_member_state
from status.manager import ApplyResult


class ServiceViewSet(ApiMixin, viewsets.ModelViewSet):
    """CRUD through the services: create_service(actor=, **fields), update_service(obj, actor=, **fields),
    delete_service(obj, actor=)."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    create_service = None
    update_service = None
    delete_service = None

    def _fresh(self, instance):
        fresh = self.get_queryset().get(pk=instance.pk)
        fresh.deployment = getattr(instance, "deployment", None)
        return fresh

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instance = type(self).create_service(actor=self.actor, **serializer.validated_data)
        return Response(self.get_serializer(self._fresh(instance)).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        instance = type(self).update_service(instance, actor=self.actor, **serializer.validated_data)
        return Response(self.get_serializer(self._fresh(instance)).data)

    def destroy(self, request, *args, **kwargs):
        instance = self.get_object()
        key = str(instance)
        deployment = type(self).delete_service(instance, actor=self.actor)
        return self.deleted(key, deployment)


@extend_schema_view(destroy=DELETE_SCHEMA)
class ZopeServerViewSet(ServiceViewSet):
    """Application servers (Zope servers and Node.js frontend servers: `kind`), looked up by name (the
    balancer route)."""

    operation_noun = "zope_server"

    serializer_class = ZopeServerSerializer
    path_examples = {"name": "zope1"}
    queryset = ZopeServer.objects.all()
    filterset_fields = ["kind"]  # ?kind=zope or ?kind=node (Node.js frontend servers)
    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    create_service = staticmethod(balancer_services.zope_server_create)
    update_service = staticmethod(balancer_services.zope_server_update)
    delete_service = staticmethod(balancer_services.zope_server_delete)


@extend_schema_view(destroy=DELETE_SCHEMA)
class FrontEndViewSet(ServiceViewSet):
    """Apache front-ends, looked up by name. `manager_password` is write-only."""

    operation_noun = "frontend"

    serializer_class = FrontEndSerializer
    path_examples = {"name": "fe1"}
    queryset = FrontEnd.objects.all()
    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    create_service = staticmethod(balancer_services.frontend_create)
    update_service = staticmethod(balancer_services.frontend_update)
    delete_service = staticmethod(balancer_services.frontend_delete)


@extend_schema_view(destroy=DELETE_SCHEMA)
class BalancerViewSet(ServiceViewSet):
    """Balancers, looked up by name, with their members (read-only here; change them under members/)."""

    operation_noun = "balancer"

    serializer_class = BalancerSerializer
    path_examples = {"name": "bronze"}
    queryset = Balancer.objects.prefetch_related(
        Prefetch("members", queryset=BalancerMember.objects.select_related("zope_server", "balancer"))
    )
    filterset_fields = ["kind"]
    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    create_service = staticmethod(balancer_services.balancer_create)
    update_service = staticmethod(balancer_services.balancer_update)
    delete_service = staticmethod(balancer_services.balancer_delete)


class MemberFilter(django_filters.FilterSet):
    balancer = django_filters.CharFilter(field_name="balancer__name")
    zope_server = django_filters.CharFilter(field_name="zope_server__name")
    kind = django_filters.ChoiceFilter(field_name="balancer__kind", choices=ServerKind.choices)

    class Meta:
        model = BalancerMember
        fields = ["balancer", "zope_server", "kind"]


@extend_schema_view(
    partial_update=extend_schema(
        summary="Change a member; hot_standby, drain, disabled, loadfactor and lbset are applied live",
        description=(
            "With `?dry_run=1` nothing is changed: the answer is what the change of hot_standby, drain, disabled, "
            "loadfactor or lbset would do (balancers.selectors.effects, as the web confirmation shows it): the "
            "balancers losing capacity, whether one is left on its hot standby only or with nothing, the sites "
            "going offline, and each front-end's diff."
        ),
        parameters=[OpenApiParameter("dry_run", OpenApiTypes.BOOL, description="Only show the effect.")],
    ),
    destroy=DELETE_SCHEMA,
)
class MemberViewSet(ServiceViewSet):
    """Balancer members (a Zope server in a balancer), by id."""

    operation_noun = "member"

    serializer_class = MemberSerializer
    queryset = BalancerMember.objects.select_related("balancer", "zope_server")
    filterset_class = MemberFilter
    create_service = staticmethod(balancer_services.member_create)
    update_service = staticmethod(balancer_services.member_update)
    delete_service = staticmethod(balancer_services.member_delete)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        fields.pop("force", None)
        member = balancer_services.member_create(actor=self.actor, **fields)
        return Response(self.get_serializer(self._fresh(member)).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        member = self.get_object()
        serializer = self.get_serializer(member, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        force = fields.pop("force", False)
        if request.query_params.get("dry_run") in ("1", "true", "yes"):
            live_fields = {n: fields[n] for n in balancer_services.LIVE_MEMBER_FIELDS if n in fields}
            edit = with_member_state(member.balancer.name, member.zope_server.name, **live_fields)
            return Response(change_effect(edit).as_dict())
        for name in ("balancer", "zope_server"):
            if name in fields and fields[name] == getattr(member, name):
                fields.pop(name)  # unchanged: harmless; a change is refused by the service
        live = any(name in fields for name in balancer_services.LIVE_MEMBER_FIELDS)
        result = balancer_services.member_change(member, actor=self.actor, force=force, **fields)
        fresh = self._fresh(result.member)
        fresh.deployment = result.deployment
        fresh.live_results = [_apply_result(r) for r in result.frontends] if live else None
        return Response(self.get_serializer(fresh).data)


def _apply_result(result: ApplyResult) -> dict:
    return {
        "frontend": result.frontend_name,
        "applied": result.applied,
        "reason": result.reason,
        "live_status": result.live_status,
    }
