from allauth.account.decorators import secure_admin_login


def protect_admin_login(site) -> None:
    """Send the admin's own login form through allauth (and so through MFA)."""
    site.login = secure_admin_login(site.login)
