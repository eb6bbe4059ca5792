"""Settings of a small Django backend that adopts sessiond.

Everything that differs between machines comes from the environment:
DJANGO_DB (the SQLite file), DJANGO_SECRET_KEY, SESSIOND_URL,
SESSIOND_ADMIN_TOKEN_FILE and SESSIOND_VERIFY_SECRET_FILE.
"""
import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "legacyapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "legacyapp.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB", "db.sqlite3"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LOGGING = {"version": 1, "disable_existing_loggers": False}

# sessiond: where it runs, the admin token this backend uses to change users,
# and the key that signs sessiond's login-verify requests (optional).
SESSIOND_URL = os.environ.get("SESSIOND_URL", "http://127.0.0.1:8080")
SESSIOND_ADMIN_TOKEN_FILE = os.environ.get("SESSIOND_ADMIN_TOKEN_FILE", "")
SESSIOND_VERIFY_SECRET_FILE = os.environ.get("SESSIOND_VERIFY_SECRET_FILE", "")
