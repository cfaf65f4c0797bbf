from django.urls import path

from balancers.views import balancers, dashboard, deployments, frontends, imports, members, zope_servers

app_name = "balancers"

urlpatterns = [
    # the dashboard is the panel's home page
    path("", dashboard.dashboard, name="dashboard"),
    path("dashboard/grid/", dashboard.dashboard_partial, name="dashboard_grid"),
    path("members/<int:pk>/flags/", dashboard.member_toggle, name="dashboard_member_toggle"),
    path("balancers/", balancers.BalancerListView.as_view(), name="balancer_list"),
    path("balancers/add/", balancers.BalancerCreateView.as_view(), name="balancer_create"),
    path("balancers/<int:pk>/", balancers.BalancerDetailView.as_view(), name="balancer_detail"),
    path("balancers/<int:pk>/edit/", balancers.BalancerUpdateView.as_view(), name="balancer_update"),
    path("balancers/<int:pk>/delete/", balancers.BalancerDeleteView.as_view(), name="balancer_delete"),
    path("balancers/<int:pk>/members/add/", members.MemberCreateView.as_view(), name="member_create"),
    path("balancers/<int:pk>/members/<int:member_pk>/edit/", members.MemberUpdateView.as_view(), name="member_update"),
    path(
        "balancers/<int:pk>/members/<int:member_pk>/delete/", members.MemberDeleteView.as_view(), name="member_delete"
    ),
    path(
        "balancers/<int:pk>/members/<int:member_pk>/set/<str:state>/",
        members.MemberToggleView.as_view(),
        name="member_toggle",
    ),
    path("zope-servers/", zope_servers.ZopeServerListView.as_view(), name="zopeserver_list"),
    path("zope-servers/add/", zope_servers.ZopeServerCreateView.as_view(), name="zopeserver_create"),
    path("zope-servers/<int:pk>/", zope_servers.ZopeServerDetailView.as_view(), name="zopeserver_detail"),
    path("zope-servers/<int:pk>/edit/", zope_servers.ZopeServerUpdateView.as_view(), name="zopeserver_update"),
    path("zope-servers/<int:pk>/delete/", zope_servers.ZopeServerDeleteView.as_view(), name="zopeserver_delete"),
    path("frontends/", frontends.FrontEndListView.as_view(), name="frontend_list"),
    path("frontends/add/", frontends.FrontEndCreateView.as_view(), name="frontend_create"),
    path("frontends/<int:pk>/", frontends.FrontEndDetailView.as_view(), name="frontend_detail"),
    path("frontends/<int:pk>/edit/", frontends.FrontEndUpdateView.as_view(), name="frontend_update"),
    path("frontends/<int:pk>/delete/", frontends.FrontEndDeleteView.as_view(), name="frontend_delete"),
    path("frontends/<int:pk>/test/", frontends.FrontEndTestView.as_view(), name="frontend_test"),
    path("import/", imports.ImportStartView.as_view(), name="import_start"),
    path("import/preview/", imports.ImportPreviewView.as_view(), name="import_preview"),
    path("import/check/", imports.ImportCheckView.as_view(), name="import_check"),
    path("import/apply/", imports.ImportApplyView.as_view(), name="import_apply"),
    path("deployments/", deployments.DeploymentListView.as_view(), name="deployment_list"),
    path("deployments/new/", deployments.DeployNowView.as_view(), name="deploy_now"),
    path("deployments/<int:pk>/", deployments.DeploymentDetailView.as_view(), name="deployment_detail"),
    path("deployments/<int:pk>/progress/", deployments.DeploymentProgressView.as_view(), name="deployment_progress"),
    path("deployments/<int:pk>/badge/", deployments.DeploymentBadgeView.as_view(), name="deployment_badge"),
    path("deployments/<int:pk>/rollback/", deployments.DeploymentRollbackView.as_view(), name="deployment_rollback"),
]
