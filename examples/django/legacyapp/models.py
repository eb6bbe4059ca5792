from django.conf import settings
from django.db import models


class Profile(models.Model):
    """What the backend knows about a user beyond Django's auth.User."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    tenant_id = models.CharField(max_length=100, default="")
    needs_onboarding = models.BooleanField(default=True)
    onboarding_step = models.CharField(max_length=100, default="welcome")


def identity(user):
    """The user as sessiond's login-verify and legacy endpoints answer it."""
    profile, _ = Profile.objects.get_or_create(user=user)
    return {
        "user_id": str(user.pk),
        "email": user.email,
        "tenant_id": profile.tenant_id,
        "needs_onboarding": profile.needs_onboarding,
        "onboarding_step": profile.onboarding_step,
        "attributes": {"staff": user.is_staff},
    }
