from __future__ import annotations

from django.urls import path
from djrt_site import views

urlpatterns = [
    path("one", views.one),
    path("one-async", views.one_async),
    path("bug", views.bug),
    path("crash", views.crash),
    path("echo", views.echo),
    path("drf", views.drf_view()),
    path("lookup", views.hello),
    path("lookup-after", views.hello),
]
