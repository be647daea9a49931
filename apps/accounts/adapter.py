from allauth.account.adapter import DefaultAccountAdapter


class StaffAccountAdapter(DefaultAccountAdapter):
    """Patchbay accounts are staff accounts, created by other staff (admin or createsuperuser): no public sign-up."""

    def is_open_for_signup(self, request) -> bool:
        return False
