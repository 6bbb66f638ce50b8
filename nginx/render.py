"""Render the NGINX gateway configuration from the templates next to this file.

Usage: ``python nginx/render.py --out DIR`` writes ``DIR/nginx.conf``, the files it
includes and ``gateway.js``; then run ``nginx -p DIR -c DIR/nginx.conf``. Placeholders
``${MSS_...}`` are filled from the environment (defaults in ``DEFAULTS``). Without
``MSS_TLS_CERT``/``MSS_TLS_KEY`` a self-signed development certificate is created in
``DIR/tls/`` (once) with the ``openssl`` command-line tool, and so is the secret of the
hop from the edge to the budgets server (``DIR/mss-hop-secret.conf``, mode 0600).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import secrets
import shutil
import string
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

TEMPLATE_DIR = Path(__file__).resolve().parent
REGISTRY_MODULE = TEMPLATE_DIR.parent / "libs" / "src" / "mss_settings" / "registry.py"
TEMPLATE_SUFFIX = ".template"
NJS_FILES = ("gateway.js",)
JS_MODULE = "ngx_http_js_module.so"
MODULE_DIR_CANDIDATES = ("/usr/lib/nginx/modules", "/usr/share/nginx/modules")
# The budgets server's socket, under the prefix. A unix socket path holds at most 107 bytes.
BUDGETS_SOCKET = "mss-budgets.sock"
MAX_SOCKET_PATH = 107
HOP_SECRET_FILE = "mss-hop-secret.conf"
# The plain-HTTP server's body: the gateway itself, or the redirect to HTTPS.
HTTP_BODY = {"0": "mss-server.conf", "1": "mss-https-redirect.conf"}


def _registry() -> ModuleType:
    """The service registry's loader, by path: it needs only the standard library, and so
    does this script (no virtual environment required)."""
    spec = importlib.util.spec_from_file_location("mss_registry", REGISTRY_MODULE)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {REGISTRY_MODULE}")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mss_registry", module)
    spec.loader.exec_module(module)
    return module


REGISTRY = _registry()


def _upstream_var(service: str) -> str:
    return f"MSS_{service.upper()}_UPSTREAM"


def defaults(offset: int = 0) -> dict[str, str]:
    """Every placeholder's default; ports from the registry, shifted by MSS_PORT_OFFSET."""
    values = {
        "MSS_GATEWAY_HTTP_PORT": str(8080 + offset),
        "MSS_GATEWAY_HTTPS_PORT": str(8443 + offset),
        # Production: plain HTTP only redirects to HTTPS, on the port clients reach it at
        # (default the HTTPS listener's; 443 is left out of the Location).
        "MSS_GATEWAY_HTTP_REDIRECT": "0",
        "MSS_GATEWAY_PUBLIC_HTTPS_PORT": "",
        "MSS_GATEWAY_LISTEN": "127.0.0.1",
        "MSS_GATEWAY_WORKERS": "2",
        "MSS_NGINX_USER": "",
        "MSS_GATEWAY_ACCESS_LOG": "",
        "MSS_GATEWAY_ERROR_LOG": "",
        "MSS_TLS_CERT": "",
        "MSS_TLS_KEY": "",
    }
    # A service's upstream lists its API and the API's local replicas, comma-separated.
    for spec in REGISTRY.services():
        values[_upstream_var(spec.name)] = ",".join(
            f"127.0.0.1:{p.port}" for p in spec.api_processes(offset)
        )
    # The token check is identity's introspection process (its own upstream).
    introspect = REGISTRY.service("identity").process("introspect", offset)
    values["MSS_INTROSPECTION_UPSTREAM"] = f"127.0.0.1:{introspect.port}"
    values.update(
        {
            "MSS_RATE_AUTH_PER_IP": "10r/s",
            "MSS_RATE_AUTH_BURST": "20",
            "MSS_RATE_PER_USER": "50r/s",
            "MSS_RATE_USER_BURST": "100",
            "MSS_RATE_PER_ORG": "200r/s",
            "MSS_RATE_ORG_BURST": "400",
            "MSS_RATE_PER_IP": "500r/s",
            "MSS_RATE_IP_BURST": "1000",
            "MSS_RATE_INGEST_PER_ORG": "1000r/s",
            "MSS_RATE_INGEST_BURST": "2000",
        }
    )
    return values


DEFAULTS = defaults()
UPSTREAM_VARS = tuple(name for name in DEFAULTS if name.endswith("_UPSTREAM"))
PORT_VARS = ("MSS_GATEWAY_HTTP_PORT", "MSS_GATEWAY_HTTPS_PORT")
RATE_VARS = (
    "MSS_RATE_AUTH_PER_IP",
    "MSS_RATE_PER_USER",
    "MSS_RATE_PER_ORG",
    "MSS_RATE_PER_IP",
    "MSS_RATE_INGEST_PER_ORG",
)
BURST_VARS = (
    "MSS_RATE_AUTH_BURST",
    "MSS_RATE_USER_BURST",
    "MSS_RATE_ORG_BURST",
    "MSS_RATE_IP_BURST",
    "MSS_RATE_INGEST_BURST",
)
PATH_VARS = ("MSS_GATEWAY_ACCESS_LOG", "MSS_GATEWAY_ERROR_LOG", "MSS_TLS_CERT", "MSS_TLS_KEY")

# Values end up inside nginx directives: refuse anything that could end one early.
SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/@+-]*$")
UPSTREAM = re.compile(
    r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$|^unix:/[A-Za-z0-9._/-]+$"
)
LISTEN = re.compile(r"^(?:\*|[A-Za-z0-9.-]+|\[?[0-9A-Fa-f:.]+\]?)$")
RATE = re.compile(r"^[1-9][0-9]*r/[sm]$")
# ${UPPER_CASE} only: the other groups string.Template expects can never match.
PLACEHOLDER = (
    r"\$(?:(?P<escaped>(?!))|(?P<named>(?!))|\{(?P<braced>[A-Z][A-Z0-9_]*)\}|(?P<invalid>(?!)))"
)
USER = re.compile(r"^[a-z_][a-z0-9_-]*(?: [a-z_][a-z0-9_-]*)?$")


class ConfigError(ValueError):
    """A setting that cannot be rendered into the configuration."""


class NginxTemplate(string.Template):
    """Only ``${UPPER_CASE}`` is a placeholder; nginx's own ``$variables`` stay as they are."""

    # Case-sensitive, and only the braced group can match. string.Template compiles a
    # str pattern itself (typeshed declares the compiled type, hence the ignore).
    flags = re.RegexFlag(0)
    pattern = PLACEHOLDER  # type: ignore[assignment]


def default_modules_dir() -> str:
    """The first Debian module directory that holds the njs module."""
    for candidate in MODULE_DIR_CANDIDATES:
        if (Path(candidate) / JS_MODULE).is_file():
            return candidate
    return MODULE_DIR_CANDIDATES[0]


def _port(name: str, value: str) -> str:
    """Validates a TCP port number."""
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ConfigError(f"{name}={value!r} is not a TCP port")
    return value


def _listen_address(value: str) -> str:
    """The listen address in nginx syntax (IPv6 in brackets)."""
    if not LISTEN.match(value):
        raise ConfigError(f"MSS_GATEWAY_LISTEN={value!r} is not an address")
    if ":" in value and not value.startswith("["):
        return f"[{value}]"
    return value


def settings_from(env: Mapping[str, str], out_dir: Path) -> dict[str, str]:
    """The placeholder values: environment over defaults, validated."""
    offset = env.get("MSS_PORT_OFFSET", "0") or "0"
    if not offset.isdigit():
        raise ConfigError(f"MSS_PORT_OFFSET={offset!r} is not a whole number")
    values = {name: env.get(name, default) for name, default in defaults(int(offset)).items()}
    values["MSS_NGINX_MODULES_DIR"] = env.get("MSS_NGINX_MODULES_DIR") or default_modules_dir()

    for name in PORT_VARS:
        _port(name, values[name])
    redirect = values.pop("MSS_GATEWAY_HTTP_REDIRECT")
    if redirect not in HTTP_BODY:
        raise ConfigError(f"MSS_GATEWAY_HTTP_REDIRECT={redirect!r} is not 0 or 1")
    values["MSS_GATEWAY_HTTP_BODY"] = HTTP_BODY[redirect]
    public_port = values.pop("MSS_GATEWAY_PUBLIC_HTTPS_PORT") or values["MSS_GATEWAY_HTTPS_PORT"]
    _port("MSS_GATEWAY_PUBLIC_HTTPS_PORT", public_port)
    values["MSS_GATEWAY_REDIRECT_PORT"] = "" if public_port == "443" else f":{public_port}"
    for name in UPSTREAM_VARS:
        if not all(UPSTREAM.match(address) for address in values[name].split(",")):
            raise ConfigError(f"{name}={values[name]!r} is not host:port[,host:port...]")
    for name in RATE_VARS:
        if not RATE.match(values[name]):
            raise ConfigError(f"{name}={values[name]!r} is not a rate like 10r/s")
    for name in BURST_VARS:
        if not values[name].isdigit():
            raise ConfigError(f"{name}={values[name]!r} is not a whole number")
    workers = values["MSS_GATEWAY_WORKERS"]
    if workers != "auto" and not (workers.isdigit() and int(workers) > 0):
        raise ConfigError(f"MSS_GATEWAY_WORKERS={workers!r} is not a count or 'auto'")
    user = values.pop("MSS_NGINX_USER")
    if user and not USER.match(user):
        raise ConfigError(f"MSS_NGINX_USER={user!r} is not 'user [group]'")
    values["MSS_NGINX_USER_LINE"] = f"user {user};" if user else "# user: not set"

    values["MSS_UPSTREAMS"] = upstream_blocks(values)
    prefix = out_dir.resolve()
    values["MSS_GATEWAY_PREFIX"] = str(prefix)
    values["MSS_SERVICE_LOCATIONS"] = service_locations(prefix)
    values["MSS_BUDGETS_SOCKET"] = str(prefix / BUDGETS_SOCKET)
    if len(values["MSS_BUDGETS_SOCKET"].encode()) > MAX_SOCKET_PATH:
        raise ConfigError(
            f"{values['MSS_BUDGETS_SOCKET']!r}: a unix socket path may hold at most "
            f"{MAX_SOCKET_PATH} bytes; choose a shorter --out"
        )
    values["MSS_GATEWAY_LISTEN_ADDR"] = _listen_address(values.pop("MSS_GATEWAY_LISTEN"))
    values["MSS_GATEWAY_ACCESS_LOG"] = values["MSS_GATEWAY_ACCESS_LOG"] or str(
        prefix / "logs" / "access.log"
    )
    values["MSS_GATEWAY_ERROR_LOG"] = values["MSS_GATEWAY_ERROR_LOG"] or str(
        prefix / "logs" / "error.log"
    )
    cert, key = values["MSS_TLS_CERT"], values["MSS_TLS_KEY"]
    if bool(cert) != bool(key):
        raise ConfigError("set both MSS_TLS_CERT and MSS_TLS_KEY, or neither")
    if not cert:
        values["MSS_TLS_CERT"] = str(prefix / "tls" / "dev-cert.pem")
        values["MSS_TLS_KEY"] = str(prefix / "tls" / "dev-key.pem")
    for name in (*PATH_VARS, "MSS_GATEWAY_PREFIX", "MSS_NGINX_MODULES_DIR", "MSS_BUDGETS_SOCKET"):
        if not SAFE_PATH.match(values[name]):
            raise ConfigError(f"{name}={values[name]!r} is not a plain absolute path")
    return values


def upstream_blocks(values: Mapping[str, str]) -> str:
    """One upstream per registered service's API (a server per replica), and the
    introspection process's."""
    targets = [(spec.name, values[_upstream_var(spec.name)]) for spec in REGISTRY.services()]
    targets.append(("introspection", values["MSS_INTROSPECTION_UPSTREAM"]))
    return "\n".join(
        f"    upstream {name} {{\n"
        + "".join(f"        server {address};\n" for address in addresses.split(","))
        + "        keepalive 32;\n"
        "        keepalive_timeout 4s;\n"
        "    }"
        for name, addresses in targets
    ).lstrip()


def service_locations(prefix: Path) -> str:
    """`/api/<prefix>` of each service to its API: locations of the budgets server, which
    only requests the edge's token check accepted reach."""
    blocks = []
    for spec in REGISTRY.services():
        if not spec.gateway_prefixes:
            continue
        paths = "|".join(spec.gateway_prefixes)  # the registry allows [a-z0-9-] only
        blocks.append(
            f"location ~ ^/api/(?:{paths})(?:/|$) {{\n"
            f"    include {prefix}/mss-budgets.conf;\n"
            f"    proxy_pass http://{spec.name};\n"
            "}"
        )
    return "\n".join(blocks)


HOP_SECRET = re.compile(r'^    default "[0-9a-f]{64}";$', re.M)


def ensure_hop_secret(path: Path) -> Path:
    """The secret the edge presents to the budgets server ($mss_hop_secret), readable by
    the owner only: whoever knows it can vouch for any identity on the budgets socket.
    Made once and kept across renders: a reload with a new one would refuse the requests
    that old workers still have in flight. Remove the file to make a new one."""
    if path.is_file() and HOP_SECRET.search(path.read_text()):
        path.chmod(0o600)
        return path
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(
            "# Written once by nginx/render.py (mode 0600): the edge sends it to the budgets\n"
            "# server, which refuses any request without it. Remove this file for a new one.\n"
            'map "" $mss_hop_secret {\n'
            f'    default "{secrets.token_hex(32)}";\n'
            "}\n"
        )
    return path


def ensure_dev_certificate(cert: Path, key: Path) -> bool:
    """Creates a self-signed P-256 certificate for localhost unless both files exist."""
    if cert.is_file() and key.is_file():
        return False
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ConfigError("openssl not found: install it or set MSS_TLS_CERT/MSS_TLS_KEY")
    cert.parent.mkdir(parents=True, exist_ok=True)
    command = [
        openssl, "req", "-x509", "-newkey", "ec",
        "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(cert), "-days", "825",
        "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - fixed arguments
    key.chmod(0o600)
    return True


def render(out_dir: Path, env: Mapping[str, str]) -> list[Path]:
    """Writes the configuration into out_dir and returns the files written."""
    values = settings_from(env, out_dir)
    prefix = Path(values["MSS_GATEWAY_PREFIX"])
    for sub in ("logs", "temp", "cache"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for template in sorted(TEMPLATE_DIR.glob(f"*{TEMPLATE_SUFFIX}")):
        target = prefix / template.name.removesuffix(TEMPLATE_SUFFIX)
        try:
            text = NginxTemplate(template.read_text()).substitute(values)
        except KeyError as missing:
            raise ConfigError(f"{template.name}: unknown placeholder {missing}") from None
        target.write_text(text)
        written.append(target)
    for name in NJS_FILES:
        target = prefix / name
        shutil.copyfile(TEMPLATE_DIR / name, target)
        written.append(target)
    written.append(ensure_hop_secret(prefix / HOP_SECRET_FILE))
    if not env.get("MSS_TLS_CERT"):
        ensure_dev_certificate(Path(values["MSS_TLS_CERT"]), Path(values["MSS_TLS_KEY"]))
    else:
        for name in ("MSS_TLS_CERT", "MSS_TLS_KEY"):
            if not Path(values[name]).is_file():
                raise ConfigError(f"{name}={values[name]!r} does not exist")
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Render the MSS NGINX gateway config.")
    parser.add_argument("--out", required=True, type=Path, help="output (nginx prefix) dir")
    args = parser.parse_args(argv)
    out_dir: Path = args.out
    try:
        written = render(out_dir, os.environ)
    except (ConfigError, subprocess.CalledProcessError) as error:
        print(f"render.py: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
