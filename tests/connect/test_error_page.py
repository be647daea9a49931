"""Every registered error code renders as the connect error page (and as the sign-in window's last page)."""

import re

import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from django.test import RequestFactory
from django.utils.html import escape

from apps.connect import portal
from apps.connect.views import connect_page
from tests.error_examples import every_error_class, example


def _page_for(error, *, popup: bool = False):
    """A connect page whose flow raised `error`, answered by the real connect_page wrapper."""

    @connect_page
    def failing_view(request):
        raise error

    request = RequestFactory().get("/connect/anything/")
    SessionMiddleware(lambda request: None).process_request(request)
    if popup:
        portal.popup_mark(request)
    return failing_view(request)


@pytest.mark.parametrize("popup", [False, True], ids=["page", "popup"])
@pytest.mark.parametrize("error_class", every_error_class(), ids=lambda cls: cls.code)
def test_every_code_renders_as_the_connect_error_page(error_class, popup):
    error = example(error_class)
    response = _page_for(error, popup=popup)
    html = response.content.decode()
    assert response.status_code == error_class.status
    assert f"<h1>{escape(error_class.title)}</h1>" in html
    assert escape(error.message) in html
    (resolution,) = re.findall(r"<p[^>]*data-resolution[^>]*>(.*?)</p>", html, flags=re.S)
    assert escape(error_class.resolution) in resolution
    assert escape(error_class.code) in html
    assert response["Cache-Control"] == "no-store"
