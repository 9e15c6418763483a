"""URLs called by the telephony edge before and after every AI phone call."""

from django.urls import path

from billing import views

urlpatterns = [
    path("organizations/<int:organization_id>/subscription", views.subscription_status),
    path("organizations/<int:organization_id>/can-call", views.can_call),
    path("organizations/<int:organization_id>/cancel", views.cancel),
    path("calls/<str:call_id>/completed", views.call_completed),
]
