from django.urls import path

from sites import views

app_name = "sites"

urlpatterns = [
    path("", views.SiteListView.as_view(), name="site_list"),
    path("add/", views.SiteCreateView.as_view(), name="site_create"),
    path("import/", views.SiteImportView.as_view(), name="site_import"),
    path("<str:domain>/", views.SiteDetailView.as_view(), name="site_detail"),
    path("<str:domain>/live/", views.SiteLiveView.as_view(), name="site_live"),
    path("<str:domain>/edit/", views.SiteUpdateView.as_view(), name="site_update"),
    path("<str:domain>/suspend/", views.SiteSuspendView.as_view(), name="site_suspend"),
    path("<str:domain>/unsuspend/", views.SiteUnsuspendView.as_view(), name="site_unsuspend"),
    path("<str:domain>/delete/", views.SiteDeleteView.as_view(), name="site_delete"),
]

# under sites/<domain>/certificate/, named certificates:renew and certificates:upload (hostpanel/urls.py)
certificate_urlpatterns = [
    path("renew/", views.CertificateRenewView.as_view(), name="renew"),
    path("upload/", views.CertificateUploadView.as_view(), name="upload"),
]
