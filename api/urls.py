from django.urls import path, re_path
from rest_framework.routers import DefaultRouter

from api import alerts, operations, views, views_certificates
from api.errors import api_not_found
from api.schema_views import DocsView, SchemaView

app_name = "api"

router = DefaultRouter()
router.include_root_view = False
router.register("sites", views.SiteViewSet, basename="site")
router.register("zope-servers", views.ZopeServerViewSet, basename="zopeserver")
router.register("frontends", views.FrontEndViewSet, basename="frontend")
router.register("balancers", views.BalancerViewSet, basename="balancer")
router.register("members", views.MemberViewSet, basename="member")
router.register("deployments", views.DeploymentViewSet, basename="deployment")
router.register("rolling-restarts", operations.RollingRestartViewSet, basename="rollingrestart")
router.register("alert-channels", alerts.AlertChannelViewSet, basename="alertchannel")
router.register("alerts", alerts.AlertViewSet, basename="alert")

urlpatterns = [
    *router.urls,
    path("sites/<str:domain>/certificate/", views_certificates.SiteCertificateView.as_view(), name="site-certificate"),
    path(
        "sites/<str:domain>/certificate/renew/",
        views_certificates.SiteCertificateRenewView.as_view(),
        name="site-certificate-renew",
    ),
    path("balancers/<str:name>/rolling-restart/", operations.RollingRestartStartView.as_view(), name="rolling-restart"),
    path("status/", views.StatusView.as_view(), name="status"),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^.*$", api_not_found),  # JSON 404 for every other path under /api/v1/
]
