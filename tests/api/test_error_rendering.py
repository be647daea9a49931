"""Every registered error code renders as the API's one JSON error shape, through the real handler."""

import pytest
from ninja import NinjaAPI, Router
from ninja.testing import TestClient

from apps.api.errors import register_exception_handlers
from tests.error_examples import every_error_class, example


def _api_raising_every_error() -> TestClient:
    """A test-only API with the production exception handlers: GET /<code> raises that code's error."""
    by_code = {cls.code: cls for cls in every_error_class()}
    router = Router()

    @router.get("/{code}")
    def raise_error(request, code: str):
        raise example(by_code[code])

    api = NinjaAPI(urls_namespace="error-rendering-test")
    register_exception_handlers(api)
    api.add_router("/", router)
    return TestClient(api)


CLIENT = _api_raising_every_error()


@pytest.mark.parametrize("error_class", every_error_class(), ids=lambda cls: cls.code)
def test_every_code_renders_as_the_api_json_error(error_class):
    error = example(error_class)
    response = CLIENT.get(f"/{error_class.code}")
    assert response.status_code == error_class.status
    assert response.json() == {
        "error": {
            "code": error_class.code,
            "message": error.message,
            "details": error.details,
            "title": error_class.title,
            "resolution": error_class.resolution,
        }
    }
    if error.retry_after:
        assert response["Retry-After"] == str(error.retry_after)
    else:
        assert "Retry-After" not in response.headers
