from apps.audit.services import audit_request_context


class AuditRequestContextMiddleware:
    """Audit rows written while serving a request carry the client's address (REMOTE_ADDR: a forwarded-for
    header is set by the client and cannot be trusted without a known proxy in front)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with audit_request_context(ip_address=request.META.get("REMOTE_ADDR")):
            return self.get_response(request)
