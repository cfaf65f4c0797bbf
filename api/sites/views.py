"""Client sites: list, create, read, change, delete, suspend and unsuspend, looked up by domain.
Thin doors into sites.services and sites.selectors."""

from __future__ import annotations

from typing import Any

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.functional import SimpleLazyObject
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api import permissions
from api.base.serializers import DeletedSerializer
from api.base.views import ApiMixin
from api.sites.serializers import SiteSerializer, SuspendSerializer
from certificates.choices import CertificateStatus
from hostpanel.validators import normalize_hostname
from sites import services as site_services
from sites.models import Site, SiteAlias, SiteStatus
from sites.selectors import deploy_state


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
    queryset = Site.objects.select_related("balancer", "frontend_balancer", "certificate").prefetch_related(
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
