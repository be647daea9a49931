from django.urls import path

from apps.connect import views, widget_views

app_name = "connect"
urlpatterns = [
    path("start/<str:token>", views.connect_start, name="start"),
    path("callback/<slug:provider>", views.oauth_callback, name="callback"),
    path("setup/<str:connection_id>/", views.connection_setup, name="setup"),
    path("setup/<str:connection_id>/choices/<slug:name>", views.setting_choices, name="setting_choices"),
    path("done/<str:connection_id>/", views.connection_done, name="done"),
    path("validate/<slug:provider>/<slug:name>", views.setting_validate, name="validate_setting"),
    path("session/<str:token>", views.connect_session_open, name="session"),
    path("portal/", views.portal_home, name="portal"),
    path("portal/link/<str:signed>", views.portal_link_open, name="portal_link"),
    path("portal/connections/", views.portal_connections, name="portal_connections"),
    path("portal/providers/", views.portal_providers, name="portal_providers"),
    path("portal/add/<slug:provider>", views.portal_add, name="portal_add"),
    path("portal/c/<str:connection_id>/reconnect", views.portal_reconnect, name="portal_reconnect"),
    path("portal/c/<str:connection_id>/credentials", views.portal_credentials, name="portal_credentials"),
    path("portal/c/<str:connection_id>/disconnect", views.portal_disconnect, name="portal_disconnect"),
    path("widget/", widget_views.widget_page, name="widget"),
    path("widget/session", widget_views.widget_session, name="widget_session"),
    path("widget/connections", widget_views.widget_connections, name="widget_connections"),
    path("widget/providers", widget_views.widget_providers, name="widget_providers"),
    path("widget/events", widget_views.widget_events, name="widget_events"),
    path("widget/add/<slug:provider>", widget_views.widget_add, name="widget_add"),
    path(
        "widget/c/<str:connection_id>/connect", widget_views.widget_open, {"action": "connect"}, name="widget_connect"
    ),
    path(
        "widget/c/<str:connection_id>/reconnect",
        widget_views.widget_open,
        {"action": "reconnect"},
        name="widget_reconnect",
    ),
    path("widget/c/<str:connection_id>/disconnect", widget_views.widget_disconnect, name="widget_disconnect"),
    path("widget/popup/<str:signed>", views.widget_popup, name="widget_popup"),
]
