"""A second, independent, standards-compliant OAuth 2.0 authorization server for tests (RFC 6749 + RFC 7636).

It knows nothing about Patchbay: /authorize auto-approves by redirecting back with code + state, /token
checks the client credentials (HTTP Basic or body), the code, the redirect URI and the PKCE S256 verifier,
and /me is a protected resource. `mode` makes the token endpoint misbehave for negative tests.
"""

import base64
import contextlib
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.provider_server import LocalHTTPServer


class OAuthServer:
    def __init__(self, *, client_id: str = "acme-client", client_secret: str | None = None):
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.mode = "ok"  # ok | reject | error500 | timeout | malformed
        self.delay_seconds = 3.0
        self.codes: dict[str, dict] = {}
        self.tokens: set[str] = set()
        self.token_requests: list[dict] = []
        self.authorize_requests: list[dict] = []
        self._server = LocalHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "OAuthServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- protocol ------------------------------------------------------------------------------------

    def authorize(self, query: dict) -> tuple[int, dict]:
        self.authorize_requests.append(query)
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect_uri:
            return 400, {"Content-Type": "text/plain"}
        if query.get("response_type") != "code":
            location = redirect_uri + "?" + urlencode({"error": "unsupported_response_type", "state": query["state"]})
            return 302, {"Location": location}
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "redirect_uri": redirect_uri,
            "challenge": query.get("code_challenge"),
            "method": query.get("code_challenge_method"),
            "scope": query.get("scope", ""),
        }
        return 302, {"Location": redirect_uri + "?" + urlencode({"code": code, "state": query.get("state", "")})}

    def token(self, headers, form: dict) -> tuple[int, dict]:
        self.token_requests.append(form)
        if self.mode == "error500":
            return 503, {"error": "temporarily_unavailable"}
        if self.mode == "timeout":
            time.sleep(self.delay_seconds)
        if self.mode == "malformed":
            return 200, "<html>not json</html>"
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed."}
        if self.mode == "reject":
            return 400, {"error": "invalid_grant", "error_description": "The code is not valid."}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return 400, {"error": "invalid_grant", "error_description": "Unknown code or redirect_uri mismatch."}
        if grant["challenge"]:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if grant["method"] != "S256" or digest != grant["challenge"]:
                return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed."}
        access_token = "at_" + secrets.token_urlsafe(24)
        self.tokens.add(access_token)
        return 200, {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": "rt_" + secrets.token_urlsafe(24),
            "scope": grant["scope"],
        }

    def me(self, headers) -> tuple[int, dict]:
        auth = headers.get("Authorization", "")
        if auth.startswith("Bearer ") and auth[7:] in self.tokens:
            return 200, {"id": "acme-user-1", "name": "Acme User"}
        return 401, {"message": "The access token is not valid."}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status: int, body, headers: dict | None = None):
                payload = body if isinstance(body, str) else json.dumps(body)
                self.send_response(status)
                content_type = "application/json" if not isinstance(body, str) else "text/html"
                self.send_header("Content-Type", content_type)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                data = payload.encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path.endswith("/authorize"):
                    status, headers = server.authorize(query)
                    self._send(status, "", headers)
                elif parts.path.endswith("/me"):
                    status, body = server.me(self.headers)
                    self._send(status, body)
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if parts.path.endswith("/token"):
                    status, body = server.token(self.headers, form)
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self._send(status, body)
                else:
                    self._send(404, {"error": "not_found"})

        return Handler
