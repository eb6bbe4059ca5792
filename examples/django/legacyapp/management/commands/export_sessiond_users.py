"""Writes the users as JSON Lines for `sessiond user import`."""
import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from legacyapp.models import identity


class Command(BaseCommand):
    help = "Print users as JSON Lines for `sessiond user import` (password hashes included)."

    def add_arguments(self, parser):
        parser.add_argument("--email", action="append", help="only these users (repeatable)")

    def handle(self, *args, **options):
        users = get_user_model().objects.filter(is_active=True).exclude(email="").order_by("pk")
        if options["email"]:
            users = users.filter(email__in=options["email"])
        for user in users:
            who = identity(user)
            line = {
                "id": who["user_id"],
                "email": who["email"],
                "tenant_id": who["tenant_id"],
                "needs_onboarding": who["needs_onboarding"],
                "onboarding_step": who["onboarding_step"],
                "attributes": who["attributes"],
            }
            if user.has_usable_password():
                line["password_hash"] = user.password
            self.stdout.write(json.dumps(line))
