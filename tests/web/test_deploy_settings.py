"""Production settings pass Django's deployment checks, and the responses carry the
security headers a browser acts on (HSTS, Content-Security-Policy)."""

import json

from tests.web.production import HOST, manage, production_env

PROBE = """
import json
from django.test import Client
client = Client(HTTP_HOST="{host}")
plain = client.get("/login/")
secure = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")
health = client.get("/healthz")
print(json.dumps({{
    "plain": [plain.status_code, plain.get("Location")],
    "secure": [secure.status_code, dict(secure.headers)],
    "health": health.status_code,
    "csrf_cookie_secure": bool(secure.cookies["csrftoken"]["secure"]),
}}))
"""


def test_check_deploy_is_clean_behind_tls(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_names_what_is_missing_without_tls(tmp_path):
    env = production_env(tmp_path, RIS_TLS_PROXY="0")
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "security.W004" in result.stderr  # HSTS
    assert "security.W008" in result.stderr  # redirect to HTTPS


def test_https_only_with_hsts_and_a_content_security_policy(tmp_path):
    result = manage(production_env(tmp_path), "shell", "-c", PROBE.format(host=HOST))
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["plain"] == [301, f"https://{HOST}/login/"]
    status, headers = seen["secure"]
    assert status == 200
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "includeSubDomains" in headers["Strict-Transport-Security"]
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy
    assert seen["csrf_cookie_secure"]
    # Local probes (compose, load balancers) ask over plain HTTP.
    assert seen["health"] == 200
