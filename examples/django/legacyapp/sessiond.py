"""The backend's side of sessiond: its admin API and the check of its
login-verify signature. Standard library only."""
import hashlib
import hmac
import json
import time
import urllib.request

from django.conf import settings


def _read(path):
    with open(path) as f:
        return f.read().strip()


def patch_user(user_id, changes):
    """PATCH /admin/v1/users/{id}: a merge patch of the user's fields."""
    req = urllib.request.Request(
        f"{settings.SESSIOND_URL}/admin/v1/users/{user_id}",
        data=json.dumps(changes).encode(),
        method="PATCH",
        headers={
            "Authorization": "Bearer " + _read(settings.SESSIOND_ADMIN_TOKEN_FILE),
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(req, timeout=5) as res:
        return json.load(res)


def signature_ok(header, body, max_age=300):
    """Checks X-Sessiond-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">."""
    if not settings.SESSIOND_VERIFY_SECRET_FILE:
        return True
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - t) > max_age:
        return False
    key = _read(settings.SESSIOND_VERIFY_SECRET_FILE).encode()
    want = hmac.new(key, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, parts.get("v1", ""))
