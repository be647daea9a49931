"""A person clicks through the customer portal and connects the built-in sandbox in a real Chromium."""

import pytest
from playwright.sync_api import expect

from apps.connect.services import customer_portal_link
from apps.connections.models import Connection

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_person_connects_the_sandbox_from_the_portal(live, sandbox_customer, page, screenshot):
    page.goto(customer_portal_link(customer=sandbox_customer, ttl=600))
    expect(page.get_by_role("heading", name="Integrations")).to_be_visible()
    expect(page.get_by_text("No connections yet.")).to_be_visible()
    screenshot("01-portal-empty")

    page.get_by_placeholder("Search services…").fill("sandbox")
    expect(page.locator(".provider-card")).to_have_count(2)  # htmx swapped in the filtered picker
    page.locator('[data-provider="patchbay-sandbox"]').click()

    expect(page.get_by_role("heading", name="Sign in to the sandbox")).to_be_visible()
    screenshot("02-sandbox-login")
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Allow")).to_be_visible()
    screenshot("03-consent")
    page.get_by_role("button", name="Approve").click()

    expect(page.get_by_role("heading", name="Finish setting up")).to_be_visible()
    # The sandbox lists the signed-in account's workspaces: a choice, not a typed value.
    expect(page.get_by_label("Workspace").locator("option")).to_have_text(
        ["Choose…", "Ada Lovelace — Demo", "Ada Lovelace — Sales", "Ada Lovelace — Support"]
    )
    screenshot("04-settings-choices")
    page.get_by_label("Workspace").select_option("ada-lovelace-sales")
    page.get_by_role("button", name="Save settings").click()

    expect(page.get_by_role("heading", name="Connected")).to_be_visible()
    screenshot("05-connected")
    connection = Connection.objects.get(customer=sandbox_customer)
    assert connection.is_configured
    assert connection.settings["workspace"] == "ada-lovelace-sales"

    page.get_by_role("link", name="Back to your integrations").click()
    expect(page.locator('[data-badge="healthy"]')).to_be_visible()
    screenshot("06-portal-connected")


def test_person_who_cancels_consent_sees_a_clear_page(live, sandbox_customer, page, screenshot):
    page.goto(customer_portal_link(customer=sandbox_customer, ttl=600))
    page.locator('[data-provider="patchbay-sandbox"]').click()
    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Cancel").click()

    expect(page.get_by_role("heading", name="Access was not approved")).to_be_visible()
    screenshot("07-denied")
    page.get_by_role("link", name="Back to your integrations").click()
    expect(page.locator('[data-badge="pending"]')).to_be_visible()
    expect(page.get_by_role("link", name="Complete setup")).to_be_visible()
