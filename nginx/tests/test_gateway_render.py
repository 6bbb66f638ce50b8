"""Rendering the gateway config: placeholders, validation, and `nginx -t` where installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RENDER = Path(__file__).resolve().parents[1] / "render.py"
JS_MODULE_DIRS = ("/usr/lib/nginx/modules", "/usr/share/nginx/modules")


def run_render(out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Runs render.py with only the given MSS_* settings in the environment."""
    base = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, str(RENDER), "--out", str(out)],
        env={**base, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_defaults_render_every_file_and_a_dev_certificate(tmp_path: Path) -> None:
    result = run_render(tmp_path)

    assert result.returncode == 0, result.stderr
    for name in ("nginx.conf", "mss-server.conf", "mss-protected.conf", "gateway.js"):
        assert (tmp_path / name).is_file(), name
    rendered = "".join(p.read_text() for p in tmp_path.glob("*.conf"))
    assert "${" not in rendered.replace("${request", "")
    assert "listen 127.0.0.1:8080 default_server;" in rendered
    assert "listen 127.0.0.1:8443 ssl http2 default_server;" in rendered
    assert "server 127.0.0.1:8111;" in rendered
    assert f"pid {tmp_path.resolve()}/nginx.pid;" in rendered
    assert (tmp_path / "tls" / "dev-cert.pem").is_file()
    assert (tmp_path / "tls" / "dev-key.pem").stat().st_mode & 0o077 == 0


def test_environment_overrides_defaults(tmp_path: Path) -> None:
    result = run_render(
        tmp_path,
        MSS_GATEWAY_HTTP_PORT="18080",
        MSS_GATEWAY_LISTEN="::",
        MSS_IDENTITY_UPSTREAM="identity.internal:9000",
        MSS_RATE_PER_ORG="7r/s",
        MSS_GATEWAY_WORKERS="auto",
    )

    assert result.returncode == 0, result.stderr
    conf = (tmp_path / "nginx.conf").read_text()
    assert "listen [::]:18080 default_server;" in conf
    assert "server identity.internal:9000;" in conf
    assert "zone=mss_org:10m rate=7r/s;" in conf
    assert "worker_processes auto;" in conf


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MSS_GATEWAY_HTTP_PORT", "99999"),
        ("MSS_IDENTITY_UPSTREAM", "127.0.0.1:8101; include /etc/passwd"),
        ("MSS_RATE_PER_USER", "fast"),
        ("MSS_RATE_USER_BURST", "-1"),
        ("MSS_GATEWAY_WORKERS", "0"),
        ("MSS_TLS_CERT", "/only/the/cert.pem"),
    ],
)
def test_unsafe_or_malformed_setting_is_refused(tmp_path: Path, name: str, value: str) -> None:
    result = run_render(tmp_path, **{name: value})

    assert result.returncode == 1
    assert name in result.stderr


def test_given_certificate_files_must_exist(tmp_path: Path) -> None:
    result = run_render(
        tmp_path, MSS_TLS_CERT="/nonexistent/c.pem", MSS_TLS_KEY="/nonexistent/k.pem"
    )

    assert result.returncode == 1
    assert "does not exist" in result.stderr


def test_rendered_config_passes_nginx_config_test(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None or not any(Path(d, "ngx_http_js_module.so").is_file() for d in JS_MODULE_DIRS):
        pytest.skip("nginx with the njs module is not installed here")
    assert run_render(tmp_path).returncode == 0

    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
