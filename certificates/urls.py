from django.urls import path

from certificates import views

app_name = "certificates"

# under sites/<domain>/certificate/ (hostpanel/urls.py)
urlpatterns = [
    path("renew/", views.CertificateRenewView.as_view(), name="renew"),
    path("upload/", views.CertificateUploadView.as_view(), name="upload"),
]
