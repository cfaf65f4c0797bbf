from django.urls import path

from balancers import dashboard_views, views

app_name = "balancers"

urlpatterns = [
    # the dashboard is the panel's home page
    path("", dashboard_views.dashboard, name="dashboard"),
    path("dashboard/grid/", dashboard_views.dashboard_partial, name="dashboard_grid"),
    path("members/<int:pk>/flags/", dashboard_views.member_toggle, name="dashboard_member_toggle"),
    path("balancers/", views.BalancerListView.as_view(), name="balancer_list"),
    path("balancers/add/", views.BalancerCreateView.as_view(), name="balancer_create"),
    path("balancers/<int:pk>/", views.BalancerDetailView.as_view(), name="balancer_detail"),
    path("balancers/<int:pk>/edit/", views.BalancerUpdateView.as_view(), name="balancer_update"),
    path("balancers/<int:pk>/delete/", views.BalancerDeleteView.as_view(), name="balancer_delete"),
    path("balancers/<int:pk>/members/add/", views.MemberCreateView.as_view(), name="member_create"),
    path("balancers/<int:pk>/members/<int:member_pk>/edit/", views.MemberUpdateView.as_view(), name="member_update"),
    path("balancers/<int:pk>/members/<int:member_pk>/delete/", views.MemberDeleteView.as_view(), name="member_delete"),
    path(
        "balancers/<int:pk>/members/<int:member_pk>/set/<str:state>/",
        views.MemberToggleView.as_view(),
        name="member_toggle",
    ),
    path("zope-servers/", views.ZopeServerListView.as_view(), name="zopeserver_list"),
    path("zope-servers/add/", views.ZopeServerCreateView.as_view(), name="zopeserver_create"),
    path("zope-servers/<int:pk>/", views.ZopeServerDetailView.as_view(), name="zopeserver_detail"),
    path("zope-servers/<int:pk>/edit/", views.ZopeServerUpdateView.as_view(), name="zopeserver_update"),
    path("zope-servers/<int:pk>/delete/", views.ZopeServerDeleteView.as_view(), name="zopeserver_delete"),
    path("frontends/", views.FrontEndListView.as_view(), name="frontend_list"),
    path("frontends/add/", views.FrontEndCreateView.as_view(), name="frontend_create"),
    path("frontends/<int:pk>/", views.FrontEndDetailView.as_view(), name="frontend_detail"),
    path("frontends/<int:pk>/edit/", views.FrontEndUpdateView.as_view(), name="frontend_update"),
    path("frontends/<int:pk>/delete/", views.FrontEndDeleteView.as_view(), name="frontend_delete"),
    path("frontends/<int:pk>/test/", views.FrontEndTestView.as_view(), name="frontend_test"),
    path("deployments/", views.DeploymentListView.as_view(), name="deployment_list"),
    path("deployments/new/", views.DeployNowView.as_view(), name="deploy_now"),
    path("deployments/<int:pk>/", views.DeploymentDetailView.as_view(), name="deployment_detail"),
    path("deployments/<int:pk>/progress/", views.DeploymentProgressView.as_view(), name="deployment_progress"),
    path("deployments/<int:pk>/rollback/", views.DeploymentRollbackView.as_view(), name="deployment_rollback"),
]
