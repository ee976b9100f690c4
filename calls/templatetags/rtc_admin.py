"""Template tags for the admin: rtcsite's own system-check warnings on the index page."""

from django import template

from calls.checks import turn_configured

register = template.Library()


@register.simple_tag
def rtc_warnings() -> list:
    """Warnings an administrator should see without running `manage.py check`."""
    return list(turn_configured(None))
