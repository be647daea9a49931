"""Helpers that drive the connect flow like a person would: a browser-ish requests.Session over real HTTP."""

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import requests


class _FormParser(HTMLParser):
    def __init__(self, form_id: str | None):
        super().__init__()
        self.form_id = form_id
        self.forms: list[dict] = []
        self._current: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._current = {"id": attrs.get("id"), "action": attrs.get("action", ""), "fields": {}}
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and attrs.get("name"):
            if attrs.get("type") in {"checkbox", "radio"} and "checked" not in attrs:
                return
            if attrs.get("type") == "submit":
                return
            self._current["fields"][attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def form_fields(html: str, *, form_id: str | None = None, index: int = 0) -> tuple[str, dict]:
    """(action, {name: value}) of a form in the page, hidden and prefilled inputs included."""
    parser = _FormParser(form_id)
    parser.feed(html)
    forms = [f for f in parser.forms if form_id is None or f["id"] == form_id]
    form = forms[index]
    return form["action"], dict(form["fields"])


class SandboxPerson:
    """One person with one browser: signs in to the sandbox by name and approves (or denies) consent."""

    def __init__(self, base_url: str, name: str = "Ada Lovelace"):
        self.base_url = base_url
        self.name = name
        self.http = requests.Session()

    def url(self, path_or_url: str) -> str:
        return urljoin(self.base_url + "/", path_or_url)

    def open_connect_link(self, authorization_url: str) -> str:
        """Visit Patchbay's connect link; returns the provider authorize URL it redirected to."""
        response = self.http.get(authorization_url, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text[:500]
        return response.headers["Location"]

    def consent(self, provider_authorize_url: str, *, approve: bool = True) -> str:
        """Sign in (if asked) and answer the consent page; returns the callback URL the sandbox sent us to."""
        page = self.http.get(provider_authorize_url, timeout=10)
        assert page.status_code == 200, page.text[:500]
        if "/sandbox/login/" in page.url:
            _action, fields = form_fields(page.text)
            fields["display_name"] = self.name
            page = self.http.post(page.url, data=fields, timeout=10, headers={"Referer": page.url})
            assert page.status_code == 200, page.text[:500]
        _action, fields = form_fields(page.text, form_id="authorizationForm")
        if approve:
            fields["allow"] = "Authorize"
        response = self.http.post(page.url, data=fields, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text[:500]
        return response.headers["Location"]

    def authorize(self, authorization_url: str, *, approve: bool = True) -> str:
        return self.consent(self.open_connect_link(authorization_url), approve=approve)

    def get(self, url: str, **kwargs) -> requests.Response:
        return self.http.get(self.url(url), timeout=10, **kwargs)

    def post_form(self, page: requests.Response, values: dict, *, form_id: str | None = None) -> requests.Response:
        action, fields = form_fields(page.text, form_id=form_id)
        fields.update(values)
        return self.http.post(urljoin(page.url, action or urlsplit(page.url).path), data=fields, timeout=10)
