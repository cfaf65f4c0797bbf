from django.urls import path, re_path
from rest_framework.routers import DefaultRouter

from api.alerts.views import AlertChannelViewSet, AlertViewSet
from api.certificates.views import SiteCertificateRenewView, SiteCertificateView
from api.deployments.views import DeploymentViewSet
from api.docs.views import DocsView, SchemaView
from api.errors import api_not_found
from api.infrastructure.views import BalancerViewSet, FrontEndViewSet, MemberViewSet, ZopeServerViewSet
from api.operations.views import RollingRestartStartView, RollingRestartViewSet
from api.sites.views import SiteViewSet
from api.status.views import StatusView
from api.usage.views import FleetUsageView, SiteQuotaView, SiteUsageView

app_name = "api"

router = DefaultRouter()
router.include_root_view = False
router.register("sites", SiteViewSet, basename="site")
router.register("zope-servers", ZopeServerViewSet, basename="zopeserver")
router.register("frontends", FrontEndViewSet, basename="frontend")
router.register("balancers", BalancerViewSet, basename="balancer")
router.register("members", MemberViewSet, basename="member")
router.register("deployments", DeploymentViewSet, basename="deployment")
router.register("rolling-restarts", RollingRestartViewSet, basename="rollingrestart")
router.register("alert-channels", AlertChannelViewSet, basename="alertchannel")
router.register("alerts", AlertViewSet, basename="alert")

urlpatterns = [
    *router.urls,
    path("sites/<str:domain>/certificate/", SiteCertificateView.as_view(), name="site-certificate"),
    path("sites/<str:domain>/certificate/renew/", SiteCertificateRenewView.as_view(), name="site-certificate-renew"),
    path("sites/<str:domain>/usage/", SiteUsageView.as_view(), name="site-usage"),
    path("sites/<str:domain>/quota/", SiteQuotaView.as_view(), name="site-quota"),
    path("usage/", FleetUsageView.as_view(), name="usage"),
    path("balancers/<str:name>/rolling-restart/", RollingRestartStartView.as_view(), name="rolling-restart"),
    path("status/", StatusView.as_view(), name="status"),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^.*$", api_not_found),  # JSON 404 for every other path under /api/v1/
]
