"""Rendering the gateway config: placeholders, validation, and `nginx -t` where installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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
    assert "zone=mss_org_budget:10m rate=7r/s;" in conf
    assert "worker_processes auto;" in conf


def test_an_upstream_has_a_server_for_each_api_replica(tmp_path: Path) -> None:
    """The registry's local replicas by default; a comma-separated list from the environment."""
    result = run_render(tmp_path, MSS_IDENTITY_UPSTREAM="a.internal:9000,b.internal:9000")

    assert result.returncode == 0, result.stderr
    conf = (tmp_path / "nginx.conf").read_text()
    notification = re.search(r"upstream notification \{(.*?)\}", conf, re.S)
    identity = re.search(r"upstream identity \{(.*?)\}", conf, re.S)
    assert notification is not None
    assert identity is not None
    assert re.findall(r"server (\S+);", notification.group(1)) == [
        "127.0.0.1:8106",
        "127.0.0.1:8116",
    ]
    assert re.findall(r"server (\S+);", identity.group(1)) == [
        "a.internal:9000",
        "b.internal:9000",
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MSS_GATEWAY_HTTP_PORT", "99999"),
        ("MSS_IDENTITY_UPSTREAM", "127.0.0.1:8101; include /etc/passwd"),
        ("MSS_IDENTITY_UPSTREAM", "127.0.0.1:8101,127.0.0.1:8102; include /etc/passwd"),
        ("MSS_IDENTITY_UPSTREAM", "127.0.0.1:8101,"),
        ("MSS_RATE_PER_USER", "fast"),
        ("MSS_RATE_USER_BURST", "-1"),
        ("MSS_GATEWAY_WORKERS", "0"),
        ("MSS_TLS_CERT", "/only/the/cert.pem"),
        ("MSS_GATEWAY_HTTP_REDIRECT", "yes"),
        ("MSS_GATEWAY_PUBLIC_HTTPS_PORT", "0"),
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


@pytest.mark.parametrize("redirect", ["0", "1"])
def test_rendered_config_passes_nginx_config_test(tmp_path: Path, redirect: str) -> None:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None or not any(Path(d, "ngx_http_js_module.so").is_file() for d in JS_MODULE_DIRS):
        pytest.skip("nginx with the njs module is not installed here")
    assert run_render(tmp_path, MSS_GATEWAY_HTTP_REDIRECT=redirect).returncode == 0

    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


# --- budgets behind the token check (issue 11, point 3) -----------------------------------

BUDGET_ZONES = ("mss_user_budget", "mss_org_budget", "mss_ingest_budget")


def server_blocks(conf: str) -> dict[str, str]:
    """The http block's servers by their first listen address (brace-matched)."""
    blocks: dict[str, str] = {}
    start = 0
    while (start := conf.find("\n    server {", start)) >= 0:
        depth, end = 0, start
        for end in range(start, len(conf)):
            depth += {"{": 1, "}": -1}.get(conf[end], 0)
            if depth == 0 and conf[end] == "}":
                break
        block = conf[start : end + 1]
        listen = re.search(r"listen (\S+)", block)
        assert listen, block
        blocks[listen.group(1)] = block
        start = end
    return blocks


def test_budgets_are_spent_only_behind_the_token_check(tmp_path: Path) -> None:
    assert run_render(tmp_path).returncode == 0
    files = {p.name: p.read_text() for p in tmp_path.glob("*.conf")}
    prefix = tmp_path.resolve()

    # The budget zones are used in one file, included by the budgets server alone...
    users = {
        name for name, text in files.items() if re.search(r"limit_req zone=mss_\w+_budget", text)
    }
    assert users == {"mss-budgets.conf"}
    includers = {name for name, text in files.items() if f"{prefix}/mss-budgets.conf;" in text}
    assert includers == {"mss-budgets-server.conf"}
    servers = server_blocks(files["nginx.conf"])
    socket = f"unix:{prefix}/mss-budgets.sock;"
    assert f"{prefix}/mss-budgets-server.conf;" in servers[socket]
    assert sum(f"{prefix}/mss-budgets-server.conf;" in block for block in servers.values()) == 1
    # ...whose every location spends them, and which refuses callers without the secret.
    budgets_server = files["mss-budgets-server.conf"]
    locations = re.findall(r"^location [^{]+\{(.*?)^\}", budgets_server, re.M | re.S)
    assert len(locations) >= 4
    assert all(f"include {prefix}/mss-budgets.conf;" in body for body in locations)
    assert "if ($http_x_mss_hop != $mss_hop_secret)" in budgets_server
    # The edge: the per-address ceiling and the token check, then the budgets server.
    protected = files["mss-protected.conf"]
    assert protected.index("limit_req zone=mss_api_ip") < protected.index(
        "auth_request /_introspect"
    )
    assert "proxy_set_header X-MSS-Hop $mss_hop_secret;" in protected
    edge = files["mss-server.conf"]
    assert edge.count("proxy_pass http://mss_budgets;") == 2
    # Keys: the verified identity the edge forwards, never a token's claims.
    assert "gateway.rate" not in files["nginx.conf"]
    for zone in BUDGET_ZONES:
        assert re.search(rf"limit_req_zone \$mss_\w+_budget_key zone={zone}:", files["nginx.conf"])
    assert "unverified" not in (prefix / "gateway.js").read_text().lower()


def test_the_hop_secret_is_private_and_kept_across_renders_until_removed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mss-hop-secret.conf"

    def render_secret() -> str:
        assert run_render(tmp_path).returncode == 0
        assert path.stat().st_mode & 0o777 == 0o600
        match = re.search(r'default "([0-9a-f]{64})";', path.read_text())
        assert match, path.read_text()
        return match.group(1)

    first, again = render_secret(), render_secret()
    path.unlink()
    renewed = render_secret()

    # Kept: a reload must not refuse what old workers still have in flight.
    assert first == again
    assert renewed != first


def test_an_output_dir_too_long_for_the_budgets_socket_is_refused(tmp_path: Path) -> None:
    out = tmp_path / ("d" * 120)

    result = run_render(out)

    assert result.returncode == 1
    assert "unix socket path" in result.stderr


# --- production: plain HTTP redirects to HTTPS (issue 11, point 12) --------------------------


def test_plain_http_serves_the_gateway_unless_the_redirect_is_asked_for(tmp_path: Path) -> None:
    assert run_render(tmp_path).returncode == 0
    http = server_blocks((tmp_path / "nginx.conf").read_text())["127.0.0.1:8080"]

    assert f"include {tmp_path.resolve()}/mss-server.conf;" in http


@pytest.mark.parametrize(
    ("settings", "location"),
    [
        ({}, "https://$host:8443$request_uri"),
        ({"MSS_GATEWAY_HTTPS_PORT": "9443"}, "https://$host:9443$request_uri"),
        ({"MSS_GATEWAY_PUBLIC_HTTPS_PORT": "443"}, "https://$host$request_uri"),
    ],
)
def test_the_redirect_sends_plain_http_to_the_same_host_and_path_over_https(
    tmp_path: Path, settings: dict[str, str], location: str
) -> None:
    assert run_render(tmp_path, MSS_GATEWAY_HTTP_REDIRECT="1", **settings).returncode == 0
    servers = server_blocks((tmp_path / "nginx.conf").read_text())
    prefix = tmp_path.resolve()

    http, https = servers["127.0.0.1:8080"], next(v for k, v in servers.items() if "ssl" in v)
    assert f"include {prefix}/mss-https-redirect.conf;" in http
    assert f"include {prefix}/mss-server.conf;" in https
    redirect = (tmp_path / "mss-https-redirect.conf").read_text()
    assert f"return 308 {location};" in redirect
    assert "proxy_pass" not in redirect


def production_gateway_settings() -> dict[str, dict[str, str]]:
    """The gateway settings of each production configuration: compose's prod profile and
    the k8s prod overlay (built with kubectl when installed)."""
    root = RENDER.parents[1]
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())["services"]
    found = {"compose prod": dict(compose["gateway-config-prod"]["environment"])}
    kubectl = shutil.which("kubectl")
    if kubectl:
        built = subprocess.run(
            [kubectl, "kustomize", str(root / "k8s" / "overlays" / "prod")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for doc in yaml.safe_load_all(built):
            if (
                doc
                and doc["kind"] == "ConfigMap"
                and doc["metadata"]["name"] == "mss-gateway-config"
            ):
                found["k8s prod"] = dict(doc["data"])
    return found


@pytest.mark.parametrize("name", ["compose prod", "k8s prod"])
def test_production_configurations_render_a_gateway_whose_plain_http_only_redirects(
    tmp_path: Path, name: str
) -> None:
    settings = production_gateway_settings()
    if name not in settings:
        pytest.skip("kubectl is not installed here")
    env = {
        key: re.sub(r"^\$\{\w+:-(.*)\}$", r"\1", value)  # compose's ${VAR:-default}
        for key, value in settings[name].items()
        # Container paths and cluster names do not exist here: left at their defaults.
        if not key.endswith("_UPSTREAM")
        and key not in ("MSS_TLS_CERT", "MSS_TLS_KEY", "MSS_NGINX_MODULES_DIR")
        and not key.endswith("_LOG")
    }

    assert env["MSS_GATEWAY_HTTP_REDIRECT"] == "1"
    assert run_render(tmp_path, **env).returncode == 0
    servers = server_blocks((tmp_path / "nginx.conf").read_text())
    http = servers[f"0.0.0.0:{env['MSS_GATEWAY_HTTP_PORT']}"]
    assert f"include {tmp_path.resolve()}/mss-https-redirect.conf;" in http
    port = env["MSS_GATEWAY_PUBLIC_HTTPS_PORT"]
    location = "https://$host$request_uri" if port == "443" else f"https://$host:{port}$request_uri"
    assert f"return 308 {location};" in (tmp_path / "mss-https-redirect.conf").read_text()
