"""Delete connection history and call records older than the retention period."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from calls.models import Call, PeerSession


class Command(BaseCommand):
    help = (
        "Delete PeerSession rows (with their IP addresses and user agents) and finished calls older "
        "than RETENTION_DAYS (or --days). Run it daily, e.g. from a systemd timer."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="override RETENTION_DAYS")
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted")

    def handle(self, *args, days: int | None, dry_run: bool, **options):
        days = settings.RETENTION_DAYS if days is None else days
        if days < 1:
            raise CommandError("retention must be at least one day")
        cutoff = timezone.now() - timedelta(days=days)
        # Only closed sessions and finished calls: live ones are still being written.
        sessions = PeerSession.objects.filter(closed_at__lt=cutoff)
        calls = Call.objects.filter(created_at__lt=cutoff).filter(
            Q(state__in=Call.FINAL_STATES) | Q(ended_at__isnull=False)
        )
        counts = {"peer sessions": sessions.count(), "calls": calls.count()}
        if not dry_run:
            sessions.delete()
            calls.delete()
        verb = "would delete" if dry_run else "deleted"
        summary = ", ".join(f"{n} {what}" for what, n in counts.items())
        self.stdout.write(f"{verb} {summary} older than {days} days (before {cutoff:%Y-%m-%d %H:%M} UTC)")
