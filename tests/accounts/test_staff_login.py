"""Staff sign in through allauth; the admin is for staff only; MFA enrolment can be required."""

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value, yield_hotp_counters_from_time
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.factories import StaffUserFactory

PASSWORD = "correct-horse-battery"

pytestmark = pytest.mark.django_db


def sign_in(client, user, password=PASSWORD, next_url="/admin/"):
    return client.post(reverse("account_login") + f"?next={next_url}", {"login": user.username, "password": password})


def confirm_password(client, password=PASSWORD):
    response = client.post(reverse("account_reauthenticate"), {"password": password})
    assert response.status_code == 302


def current_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))


@pytest.fixture
def staff():
    return StaffUserFactory(username="ops", is_superuser=True)


@pytest.fixture
def customer_user():
    user = get_user_model().objects.create_user("someone", "someone@example.test", PASSWORD)
    return user


def test_admin_login_goes_through_allauth(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert "next=%2Fadmin%2F" in response["Location"] or "next=/admin/" in response["Location"]


def test_anonymous_admin_ends_on_the_allauth_login_page(client):
    response = client.get("/admin/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].startswith(reverse("account_login"))
    assert 'name="password"' in response.content.decode()


def test_staff_signs_in_and_reaches_admin(client, staff):
    response = sign_in(client, staff)
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_wrong_password_is_refused(client, staff):
    response = sign_in(client, staff, password="nope")
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_non_staff_gets_a_clear_403_not_a_redirect_loop(client, customer_user):
    sign_in(client, customer_user)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert len(response.redirect_chain) == 1
    html = response.content.decode()
    assert "Staff only" in html
    assert "someone" in html
    assert reverse("account_logout") in html


def test_inactive_staff_cannot_use_admin(client, staff):
    client.force_login(staff)
    get_user_model().objects.filter(pk=staff.pk).update(is_active=False)
    assert client.get("/admin/").status_code in {302, 403}
    assert client.get("/admin/tenants/application/").status_code in {302, 403}


def test_public_signup_is_closed(client):
    response = client.get(reverse("account_signup"))
    assert "Sign-up is closed" in response.content.decode()
    response = client.post(
        reverse("account_signup"),
        {"username": "mallory", "email": "m@example.test", "password1": "Xy12345678!", "password2": "Xy12345678!"},
    )
    assert not get_user_model().objects.filter(username="mallory").exists()


class TestRequiredStaffMfa:
    @pytest.fixture(autouse=True)
    def _require_mfa(self, settings):
        settings.PATCHBAY_REQUIRE_STAFF_MFA = True

    def test_staff_without_totp_is_sent_to_enrol(self, client, staff):
        sign_in(client, staff)
        response = client.get("/admin/tenants/application/")
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("mfa_activate_totp"))
        assert "next=%2Fadmin%2Ftenants%2Fapplication%2F" in response["Location"]

    def test_enrol_page_and_logout_stay_reachable(self, client, staff):
        sign_in(client, staff)
        enrol = client.get(reverse("mfa_activate_totp"), follow=True)
        # allauth asks for the password again before adding an authenticator; that page must not loop either.
        assert enrol.redirect_chain[-1][0].startswith(reverse("account_reauthenticate"))
        confirm_password(client)
        enrol = client.get(reverse("mfa_activate_totp"))
        assert enrol.status_code == 200
        assert "Authenticator" in enrol.content.decode()
        assert client.get(reverse("mfa_index")).status_code == 200
        assert client.get(reverse("account_logout")).status_code == 200
        assert client.post(reverse("account_logout")).status_code == 302
        assert client.get("/admin/").status_code == 302

    def test_admin_logout_is_not_gated(self, client, staff):
        sign_in(client, staff)
        response = client.post(reverse("admin:logout"))
        assert response.status_code == 200
        assert client.get("/admin/").status_code == 302
        assert client.get("/admin/")["Location"].startswith(reverse("admin:login"))

    def test_enrolling_totp_opens_the_admin(self, client, staff):
        sign_in(client, staff)
        confirm_password(client)
        page = client.get(reverse("mfa_activate_totp"))
        secret = page.context["form"].secret
        response = client.post(reverse("mfa_activate_totp"), {"code": current_code(secret)})
        assert response.status_code == 302, response.content.decode()[:2000]
        assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.TOTP).exists()
        assert client.get("/admin/").status_code == 200

    def test_staff_with_totp_is_asked_for_a_code_at_login_then_reaches_admin(self, client, staff):
        secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
        TOTP.activate(staff, secret)
        response = sign_in(client, staff)
        assert response["Location"].startswith(reverse("mfa_authenticate"))
        assert client.get("/admin/").status_code == 302  # not signed in until the code is given
        response = client.post(reverse("mfa_authenticate"), {"code": current_code(secret)})
        assert response.status_code == 302
        assert client.get("/admin/").status_code == 200

    def test_non_staff_are_not_asked_to_enrol(self, client, customer_user):
        sign_in(client, customer_user)
        response = client.get("/admin/", follow=True)
        assert response.status_code == 403

    def test_mfa_off_lets_staff_in_without_totp(self, client, staff, settings):
        settings.PATCHBAY_REQUIRE_STAFF_MFA = False
        sign_in(client, staff)
        assert client.get("/admin/").status_code == 200


def test_login_page_does_not_offer_sign_up(client):
    html = client.get(reverse("account_login")).content.decode()
    assert "Sign in to Patchbay" in html
    assert reverse("account_signup") not in html
