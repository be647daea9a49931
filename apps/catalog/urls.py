from django.urls import path

from apps.catalog import views

app_name = "catalog"
urlpatterns = [
    path("logos/<slug:name>.svg", views.provider_logo, name="logo"),
]
