"""Failures of the built-in OAuth provider's sign-in a person can cause."""

from apps.core.errors import PatchbayError


class SandboxNameTaken(PatchbayError):
    code = "sandbox_name_taken"
    message = "That name is taken by a non-sandbox account. Pick another name."
    status = 409
    title = "That name is taken"
    resolution = "Sign in to the sandbox with another name; any name that is not a Patchbay staff account works."
