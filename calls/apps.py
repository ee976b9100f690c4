from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "calls"
    verbose_name = "Calls"

    def ready(self) -> None:
        from calls import checks, signals  # noqa: F401 - registers system checks and signal handlers
