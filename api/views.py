"""The REST API: thin doors into the services. Writes run as Actor(name=<token name>, source="api")."""

from __future__ import annotations

from typing import Any

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.functional import SimpleLazyObject
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from api import idempotency, permissions
from api.auth import StaffSessionAuthentication, TokenAuthentication
from api.errors import Conflict, api_exception_handler
from api.models import ApiToken
from api.schema import HostPanelAutoSchema
from api.serializers import (
    BalancerSerializer,
    DeletedSerializer,
    DeploymentAcceptedSerializer,
    DeploymentSerializer,
    DeploymentStartSerializer,
    FrontEndSerializer,
    MemberSerializer,
    SiteSerializer,
    StatusOverviewSerializer,
    SuspendSerializer,
    ZopeServerSerializer,
)
from api.throttling import TokenRateThrottle
from balancers import services as balancer_services
from balancers.models import Balancer, BalancerMember, Deployment, DeploymentHost, FrontEnd, ZopeServer
from balancers.selectors.inventory import frontends_named
from balancers.selectors.overview import status_overview
from balancers.services import deployment_rollback, deployment_start
from certificates.choices import CertificateStatus
from hostpanel.audit import Actor
from hostpanel.validators import normalize_hostname
from sites import services as site_services
from sites.choices import SiteStatus
from sites.models import Site, SiteAlias
from sites.selectors import deploy_state
from status.manager import ApplyResult


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ApiMixin:
    """Authentication, scopes, throttling, JSON errors and Idempotency-Key for every API view."""

    authentication_classes = [TokenAuthentication, StaffSessionAuthentication]
    permission_classes = [permissions.ScopePermission]
    throttle_classes = [TokenRateThrottle]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]
    parser_classes = [JSONParser]  # JSON only: a form or multipart body is a 415 (and the schema says JSON)
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend]
    schema = HostPanelAutoSchema()
    api_area = permissions.AREA_INFRASTRUCTURE

    def get_exception_handler(self):
        return api_exception_handler

    @property
    def actor(self) -> Actor:
        token = self.request.auth if isinstance(self.request.auth, ApiToken) else None
        if token is not None:
            return Actor(name=token.name, source="api")
        return Actor.from_user(self.request.user, source="api")

    def initial(self, request, *args, **kwargs):
        self._idempotency = None
        super().initial(request, *args, **kwargs)
        self._idempotency = idempotency.begin(request)

    def finalize_response(self, request, response, *args, **kwargs):
        record = getattr(self, "_idempotency", None)
        if record is not None:
            self._idempotency = None
            idempotency.finish(record, response)
        return super().finalize_response(request, response, *args, **kwargs)

    def deleted(self, key: str, deployment: Any) -> Response:
        return Response({"deleted": key, "deployment": getattr(deployment, "pk", None)}, status=status.HTTP_200_OK)


DELETE_SCHEMA = extend_schema(responses={200: DeletedSerializer})


# --- sites --------------------------------------------------------------------------------------


class SiteFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        method="filter_search", help_text="Part of the domain, an alias or customer_ref."
    )
    status = django_filters.ChoiceFilter(choices=SiteStatus.choices)
    balancer = django_filters.CharFilter(field_name="balancer__name", help_text="The balancer's name.")
    customer_ref = django_filters.CharFilter(field_name="customer_ref")
    certificate_status = django_filters.ChoiceFilter(
        choices=[*CertificateStatus.choices, ("none", "No certificate")],
        method="filter_certificate_status",
        help_text="The certificate's status, or none for sites without a certificate.",
    )

    class Meta:
        model = Site
        fields = ["search", "status", "balancer", "customer_ref", "certificate_status"]

    def filter_certificate_status(self, queryset, name, value):
        if value == "none":
            return queryset.filter(certificate__isnull=True)
        return queryset.filter(certificate__status=value)

    def filter_search(self, queryset, name, value):
        if not value:
            return queryset
        alias_sites = SiteAlias.objects.filter(name__icontains=value).values("site_id")
        return queryset.filter(Q(domain__icontains=value) | Q(customer_ref__icontains=value) | Q(pk__in=alias_sites))


@extend_schema_view(
    list=extend_schema(summary="List client sites"),
    create=extend_schema(summary="Create a client site", responses={201: SiteSerializer}),
    retrieve=extend_schema(summary="A client site, by domain"),
    partial_update=extend_schema(summary="Change a client site (aliases: the whole list)"),
    destroy=extend_schema(summary="Delete a client site", responses={200: DeletedSerializer}),
)
class SiteViewSet(ApiMixin, viewsets.ModelViewSet):
    """Client sites, looked up by domain. Writes deploy automatically (see `deployment`)."""

    operation_noun = "site"

    serializer_class = SiteSerializer
    queryset = Site.objects.select_related("balancer", "certificate").prefetch_related(
        Prefetch("aliases", queryset=SiteAlias.objects.order_by("name"))
    )
    lookup_field = "domain"
    lookup_value_regex = "[^/]+"
    path_examples = {"domain": "linux.co.uk"}
    filterset_class = SiteFilter
    api_area = permissions.AREA_SITES
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_serializer_context(self) -> dict[str, Any]:
        # `live` / `pending_deployment`: the front-ends' side read once per answer, and only when shown
        return {**super().get_serializer_context(), "deploy_state": SimpleLazyObject(deploy_state)}

    def get_object(self) -> Site:
        try:  # the same normalisation as on save: case, final dot, IDN -> punycode
            domain = normalize_hostname(self.kwargs["domain"])
        except DjangoValidationError:
            raise Http404 from None
        return get_object_or_404(self.get_queryset(), domain=domain)

    def _fresh(self, site: Site) -> Site:
        """Re-read the site with its aliases (the service changed them), keeping the deployment."""
        fresh = self.get_queryset().get(pk=site.pk)
        fresh.deployment = getattr(site, "deployment", None)
        return fresh

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        site = site_services.site_create(actor=self.actor, **serializer.validated_data)
        output = self.get_serializer(self._fresh(site))
        return Response(output.data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        site = self.get_object()
        serializer = self.get_serializer(site, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        site = site_services.site_update(site, actor=self.actor, **serializer.validated_data)
        return Response(self.get_serializer(self._fresh(site)).data)

    def destroy(self, request, *args, **kwargs):
        site = self.get_object()
        domain = site.domain
        deployment = site_services.site_delete(site, actor=self.actor)
        return self.deleted(domain, deployment)

    @extend_schema(
        summary="Suspend a client site (idempotent)", request=SuspendSerializer, responses={200: SiteSerializer}
    )
    @action(detail=True, methods=["post"])
    def suspend(self, request, domain=None):
        site = self.get_object()
        serializer = SuspendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            site = site_services.site_suspend(
                site, actor=self.actor, reason=serializer.validated_data.get("reason", "")
            )
        except Exception as exc:
            _rename_field(exc, "suspended_reason", "reason")
            raise
        return Response(self.get_serializer(self._fresh(site)).data)

    @extend_schema(summary="Bring a suspended site back (idempotent)", request=None, responses={200: SiteSerializer})
    @action(detail=True, methods=["post"])
    def unsuspend(self, request, domain=None):
        site = site_services.site_unsuspend(self.get_object(), actor=self.actor)
        return Response(self.get_serializer(self._fresh(site)).data)


def _rename_field(exc: Exception, old: str, new: str) -> None:
    error_dict = getattr(exc, "error_dict", None)
    if error_dict and old in error_dict:
        error_dict[new] = error_dict.pop(old)


# --- infrastructure -----------------------------------------------------------------------------


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
    """Zope servers, looked up by name (the balancer route)."""

    operation_noun = "zope_server"

    serializer_class = ZopeServerSerializer
    path_examples = {"name": "zope1"}
    queryset = ZopeServer.objects.all()
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
    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    create_service = staticmethod(balancer_services.balancer_create)
    update_service = staticmethod(balancer_services.balancer_update)
    delete_service = staticmethod(balancer_services.balancer_delete)


class MemberFilter(django_filters.FilterSet):
    balancer = django_filters.CharFilter(field_name="balancer__name")
    zope_server = django_filters.CharFilter(field_name="zope_server__name")

    class Meta:
        model = BalancerMember
        fields = ["balancer", "zope_server"]


@extend_schema_view(
    partial_update=extend_schema(
        summary="Change a member; hot_standby, drain, disabled, loadfactor and lbset are applied live"
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


# --- deployments --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Deployments, newest first"),
    retrieve=extend_schema(summary="A deployment with its per-front-end progress"),
)
class DeploymentViewSet(ApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Deployments of the rendered config to the front-ends, newest first."""

    operation_noun = "deployment"

    serializer_class = DeploymentSerializer
    queryset = Deployment.objects.prefetch_related(
        Prefetch("hosts", queryset=DeploymentHost.objects.order_by("frontend_name"))
    )

    @extend_schema(
        summary="Start a deployment to every enabled front-end (or the named ones)",
        request=DeploymentStartSerializer,
        responses={202: DeploymentAcceptedSerializer},
    )
    def create(self, request, *args, **kwargs):
        serializer = DeploymentStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        names = serializer.validated_data.get("frontends")
        frontends = None
        if names is not None:
            frontends = frontends_named(names)
        try:
            deployment = deployment_start(actor=self.actor, trigger="manual", frontends=frontends)
        except ValueError as exc:  # e.g. no front-end to deploy to
            raise Conflict(str(exc)) from None
        return Response({"id": deployment.pk, "status": deployment.status}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Roll back to the revision before this deployment",
        request=None,
        responses={202: DeploymentAcceptedSerializer},
    )
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        deployment = self.get_object()
        try:
            new = deployment_rollback(deployment, actor=self.actor)
        except ValueError as exc:  # e.g. nothing stored to roll back to
            raise Conflict(str(exc)) from None
        return Response({"id": new.pk, "status": new.status}, status=status.HTTP_202_ACCEPTED)


# --- live status --------------------------------------------------------------------------------


class StatusView(ApiMixin, APIView):
    """Intended (database) and live (each enabled front-end's latest sample, or with `?live=1` every one asked
    now, in parallel) state of every balancer, with drift, the last deployment and an hour of history."""

    operation_noun = "status"

    @extend_schema(
        summary="Balancer status: intended vs live, drift and history",
        parameters=[
            OpenApiParameter(
                "live",
                bool,
                description="1: ask every front-end's balancer-manager now and keep the answers as the latest "
                "samples (operator tokens and operators only: 403 otherwise) instead of reading the poller's.",
            )
        ],
        responses={200: StatusOverviewSerializer},
    )
    def get(self, request):
        live = request.query_params.get("live", "").lower() in {"1", "true", "yes"}
        if live:
            permissions.require_operator(request, permissions.LIVE_STATUS_REFUSED)
        return Response(status_overview(hosts=balancer_services.status_refresh() if live else None))
