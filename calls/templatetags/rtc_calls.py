"""Template tags for every page: the count of missed calls the user has not seen (the nav badge)."""

from django import template

from calls import missed

register = template.Library()


@register.simple_tag(takes_context=True)
def missed_calls_count(context) -> int:
    """Unseen missed calls of the request's user; 0 for visitors who are not logged in.

    A view that counted them already (the home page) passes `missed_count`: no second query.
    """
    if "missed_count" in context:
        return context["missed_count"]
    request = context.get("request")
    user = getattr(request, "user", None)
    return missed.unseen_count(user) if user is not None else 0
