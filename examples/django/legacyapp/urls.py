from django.urls import path

from . import views

urlpatterns = [
    path("sessiond/verify", views.sessiond_verify),
    path("sessiond/validate", views.sessiond_validate),
    path("legacy/login", views.legacy_login),
]
