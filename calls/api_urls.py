"""REST API URLs under /api/."""

urlpatterns: list = []
