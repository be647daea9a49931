from django.urls import path
from oauth2_provider import views as dot_views

from apps.sandbox import views

app_name = "sandbox"
urlpatterns = [
    path("", views.sandbox_home, name="home"),
    path("login/", views.sandbox_login, name="login"),
    path("logout/", views.sandbox_logout, name="logout"),
    path("o/authorize/", views.SandboxAuthorizationView.as_view(), name="authorize"),
    path("o/token/", dot_views.TokenView.as_view(), name="token"),
    path("o/revoke_token/", dot_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("api/me", views.SandboxMeView.as_view(), name="api-me"),
    path("api/workspaces", views.SandboxWorkspacesView.as_view(), name="api-workspaces"),
    path("api/key-check", views.sandbox_key_check, name="api-key-check"),
]
