import json

from django.contrib.auth import authenticate, login
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from .models import identity
from .sessiond import signature_ok


@require_POST
@csrf_exempt  # server to server: signed by sessiond instead
def sessiond_verify(request):
    """sessiond's --login-verify-url: checks a Django password."""
    if not signature_ok(request.headers.get("X-Sessiond-Signature", ""), request.body):
        return JsonResponse({"error": "bad signature"}, status=403)
    try:
        body = json.loads(request.body)
        email, password = body["email"], body["password"]
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "bad request"}, status=400)
    user = authenticate(request, username=email, password=password)
    if user is None or not user.is_active:
        return JsonResponse({"error": "invalid credentials"}, status=401)
    return JsonResponse(identity(user))


@require_GET
def sessiond_validate(request):
    """sessiond's --legacy-validate-url: is this old Django session valid?"""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "no session"}, status=401)
    answer = identity(request.user)
    answer["expires_at"] = request.session.get_expiry_date().isoformat()
    return JsonResponse(answer)


@require_POST
@csrf_exempt  # the example's stand-in for the old login form
def legacy_login(request):
    """The old login: a Django session cookie (sessionid), as before sessiond."""
    body = json.loads(request.body)
    user = authenticate(request, username=body.get("email"), password=body.get("password"))
    if user is None:
        return JsonResponse({"error": "invalid credentials"}, status=401)
    login(request, user)
    return JsonResponse({"ok": True})
