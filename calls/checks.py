"""System checks (`manage.py check`) for rtcsite's own settings."""

from django.conf import settings
from django.core.checks import Warning, register


@register()
def turn_configured(app_configs, **kwargs):
    """Without TURN most calls between two home or office networks cannot connect."""
    if settings.TURN_URLS and settings.TURN_SECRETS:
        return []
    return [
        Warning(
            "No TURN server is configured (TURN_URLS / TURN_SECRETS).",
            hint="Calls will use STUN and host candidates only; see README 'TURN'.",
            id="calls.W001",
        )
    ]
