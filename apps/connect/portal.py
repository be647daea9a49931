"""What a browser is allowed to see in the hosted pages, kept in its Django session.

A *portal binding* ties the browser to one application's customer (from a connect session or a signed
portal link). A *grant* lets the browser that finished a connect link or callback see that one
connection's setup and result pages. A *popup mark* says the window is the embedded widget's sign-in
window, so its result page closes itself instead of offering a way back into a portal.
"""

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.http import HttpRequest
from django.utils import timezone

from apps.connections.models import Connection
from apps.tenants.models import Application

BINDING_KEY = "patchbay_portal"
GRANTS_KEY = "patchbay_connect_grants"
POPUP_KEY = "patchbay_widget_popup"
MAX_GRANTS = 20
POPUP_TTL = timedelta(minutes=15)


@dataclass(frozen=True)
class PortalBinding:
    application_id: str
    customer_id: str
    allowed_providers: list[str]
    origin: str
    return_url: str
    frame_origins: list[str]
    expires_at: str  # ISO 8601

    @property
    def is_expired(self) -> bool:
        return datetime.fromisoformat(self.expires_at) <= timezone.now()


def binding_store(
    request: HttpRequest,
    *,
    application: Application,
    customer_id: str,
    allowed_providers: Iterable[str] = (),
    origin: str = "",
    return_url: str = "",
    ttl: int | timedelta,
) -> PortalBinding:
    expires = timezone.now() + (ttl if isinstance(ttl, timedelta) else timedelta(seconds=int(ttl)))
    request.session.cycle_key()
    binding = PortalBinding(
        application_id=application.pk,
        customer_id=customer_id,
        allowed_providers=list(allowed_providers),
        origin=origin,
        return_url=return_url,
        frame_origins=[origin] if origin else list(application.allowed_origins or []),
        expires_at=expires.isoformat(),
    )
    request.session[BINDING_KEY] = asdict(binding)
    request.session.pop(POPUP_KEY, None)
    return binding


def binding_get(request: HttpRequest) -> PortalBinding | None:
    data = request.session.get(BINDING_KEY)
    if not data:
        return None
    try:
        binding = PortalBinding(**data)
    except TypeError:
        return None
    return None if binding.is_expired else binding


def grant_add(request: HttpRequest, *, connection: Connection, return_url: str = "") -> None:
    grants = dict(request.session.get(GRANTS_KEY, {}))
    previous = grants.get(connection.pk)
    grant = {
        "app": connection.application_id,
        "return_url": return_url or (previous or {}).get("return_url", ""),
    }
    if grant == previous:
        return  # the start link granted it already: no session write on the callback
    grants.pop(connection.pk, None)
    grants[connection.pk] = grant
    request.session[GRANTS_KEY] = dict(list(grants.items())[-MAX_GRANTS:])


@dataclass(frozen=True)
class Visitor:
    """The browser on a connect page, as the flows see it: its portal binding and its connection grants."""

    binding: PortalBinding | None
    grants: dict[str, dict]
    in_popup: bool = False  # the embedded widget's sign-in window

    @property
    def actor(self) -> str:
        return f"customer:{self.binding.customer_id}" if self.binding else "connect_link"

    def return_url_for(self, connection: Connection) -> str:
        """Where the person goes back to after this connection: the portal's return URL, else the link's."""
        binding = self.binding
        if binding is not None and binding.application_id == connection.application_id and binding.return_url:
            return binding.return_url
        return (self.grants.get(connection.pk) or {}).get("return_url", "")


def visitor_get(request: HttpRequest) -> Visitor:
    return Visitor(
        binding=binding_get(request), grants=request.session.get(GRANTS_KEY, {}), in_popup=popup_active(request)
    )


def popup_mark(request: HttpRequest, *, application_id: str = "") -> None:
    """This browser window is the widget's sign-in window (for that application, once its link is resolved):
    its last page closes itself, with no portal links, under the application's brand."""
    request.session[POPUP_KEY] = {"until": (timezone.now() + POPUP_TTL).isoformat(), "application_id": application_id}


def _popup_get(request: HttpRequest) -> dict | None:
    mark = request.session.get(POPUP_KEY)
    if not isinstance(mark, dict) or datetime.fromisoformat(mark["until"]) <= timezone.now():
        return None
    return mark


def popup_active(request: HttpRequest) -> bool:
    return _popup_get(request) is not None


def popup_application_id(request: HttpRequest) -> str:
    """The application whose sign-in window this is; "" when not known (e.g. its link was void)."""
    return (_popup_get(request) or {}).get("application_id", "")
