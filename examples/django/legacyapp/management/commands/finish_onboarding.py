"""Marks a user's onboarding done, here and in sessiond."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from legacyapp.models import Profile
from legacyapp.sessiond import patch_user


class Command(BaseCommand):
    help = "Mark the user's onboarding done in Django and in sessiond (admin API)."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, **options):
        user = get_user_model().objects.get(email=options["email"])
        Profile.objects.update_or_create(user=user, defaults={"needs_onboarding": False, "onboarding_step": ""})
        answer = patch_user(user.pk, {"needs_onboarding": False, "onboarding_step": ""})
        self.stdout.write(f"onboarding done for {user.email} (sessiond version {answer['user']['version']})")
