"""The deployment files, written from the service registry (services/registry.toml).

`scripts/generate-deploy` writes them; `scripts/generate-deploy --check` renders them
afresh, prints the difference with the committed files and fails on any. Every file this
module writes starts with a line holding GENERATED_MARK (the registry test exempts such
files from its "no list of services" rule) and is byte-identical for the same registry:
services in the registry's order, nothing taken from the clock or the environment.

What it writes:
  docker-compose.yml                the whole stack on one host
  k8s/base/<service>.yaml           per service: Deployments, Services, HPA, PDB
  k8s/base/kustomization.yaml       the base's resources
  k8s/base/config.yaml              the ConfigMaps (the gateway's upstreams)
  k8s/base/network-policies.yaml    who may talk to whom, per process
  k8s/overlays/prod/images.yaml     where each image comes from in production

Hand-written and left alone: the Dockerfile, k8s/base/{namespace,gateway,setup-job}.yaml,
the overlays' kustomization.yaml and patches.

Standard library only, like the registry loader, which it loads by path.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mss_settings.registry import Process, ServiceSpec

ROOT = Path(__file__).resolve().parents[2]
REGISTRY_MODULE = ROOT / "libs" / "src" / "mss_settings" / "registry.py"
GENERATED_MARK = "generated from services/registry.toml"
HEADER = (
    f"# {GENERATED_MARK} by scripts/lib/deploy.py: do not edit by hand.\n"
    "# Change the registry (or the generator) and run scripts/generate-deploy;\n"
    "# scripts/lint fails while this file differs from what it writes.\n"
)

# Roles the platform gives one service each (nginx/render.py and the settings name them too).
# The token issuer signs tokens (its pods alone mount the signing keys), serves the JWKS
# every service fetches, answers the gateway's introspection and hashes passwords.
ISSUER = "identity"
INTROSPECTION = "introspect"
# The mailer sends mail over SMTP: its processes get the SMTP settings and egress.
MAILER = "notification"
MAIL_SETTINGS = (
    "MSS_SMTP_HOST",
    "MSS_SMTP_PORT",
    "MSS_SMTP_STARTTLS",
    "MSS_SMTP_USE_TLS",
    "MSS_SMTP_USERNAME",
    "MSS_SMTP_PASSWORD",
    "MSS_MAIL_FROM",
)
SMTP_PORTS = (25, 465, 587)

# The gateway's fixed compose address: only it may set X-Real-IP (MSS_TRUSTED_PROXIES).
GATEWAY_ADDRESS = "10.231.0.10"
GATEWAY_SUBNET = "10.231.0.0/24"

# Production images: replace with your registry and release, then regenerate.
PROD_IMAGE_REGISTRY = "registry.example.com/mss"
PROD_IMAGE_TAG = "0.1.0"


def _load_registry() -> ModuleType:
    """The registry loader, by path: standard library only, no virtual environment needed."""
    spec = importlib.util.spec_from_file_location("mss_registry", REGISTRY_MODULE)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {REGISTRY_MODULE}")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mss_registry", module)
    spec.loader.exec_module(module)
    return module


def _services() -> tuple[ServiceSpec, ...]:
    services: Callable[[], tuple[ServiceSpec, ...]] = _load_registry().services
    return services()


@dataclass(frozen=True, slots=True)
class Sizing:
    """Requests and limits of one process (k8s), and its compose limits."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str
    compose_memory: str
    compose_cpus: str


API = Sizing("100m", "192Mi", '"1"', "384Mi", "256m", "0.5")
# argon2id: 19 MiB per hash, two hashes at a time.
ISSUER_API = Sizing("200m", "256Mi", '"1"', "512Mi", "384m", "0.5")
EXTRA = Sizing("100m", "128Mi", '"1"', "256Mi", "256m", "0.5")
WORKER = Sizing("50m", "128Mi", "500m", "256Mi", "192m", "0.25")


def sizing(process: Process) -> Sizing:
    if process.command == "api":
        return ISSUER_API if process.service == ISSUER else API
    return WORKER if process.command == "worker" else EXTRA


def component(process: Process) -> str:
    """The `app.kubernetes.io/component` label: api, worker, or the extra command."""
    return process.command


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "".join(pad + line if line.strip() else line for line in text.splitlines(True))


def _issuer(spec: ServiceSpec) -> bool:
    return spec.name == ISSUER


def _mails(process: Process) -> bool:
    """The mailer's worker: it consumes the events that become mail and sends them."""
    return process.service == MAILER and process.command == "worker"


# --- docker-compose.yml -------------------------------------------------------------------

COMPOSE_HEAD = """\
# MSS Platform: the whole stack on one host (laptop-sized), for machines with Docker.
#
#   export POSTGRES_PASSWORD=...                 # required: no default secret here
#   export MSS_BOOTSTRAP_ADMIN_EMAIL=... MSS_BOOTSTRAP_ADMIN_PASSWORD=...   # optional
#   export MSS_RABBITMQ_PASSWORD=...             # optional (default guest: laptops only)
#   export MSS_SMTP_HOST=... (MSS_SMTP_PORT, MSS_SMTP_USERNAME, ...)   # optional: mail out
#   export MSS_PUBLIC_URL=https://mss.example.com   # optional: where mailed links point
#   docker compose --profile dev up -d --build   # or docker-compose (v1.29+)
#   open https://localhost:8443/  (self-signed)  or  http://localhost:8080/
# The gateway comes in two profiles; choose one (COMPOSE_PROFILES=dev works too):
#   dev   plain HTTP on 8080 serves the API, as scripts/up's gateway does
#   prod  HTTPS only: plain HTTP on 8080 answers 308 to https://<host>:<port>/<same path>
#         (MSS_GATEWAY_PUBLIC_HTTPS_PORT, default 8443: where clients reach HTTPS) and
#         serves only /health, for the health check
# Without a profile the platform runs without its gateway.
# Without MSS_BOOTSTRAP_ADMIN_PASSWORD, setup generates one into the run volume:
#   docker compose run --rm --no-deps --entrypoint cat setup \\
#     /var/lib/mss/secrets/bootstrap-admin-password
#
# Infra only (what scripts/up does when Docker runs and nothing answers locally):
#   docker compose up -d --wait postgres redis rabbitmq
#
# Passwords go into URLs: use URL-safe values (letters, digits, - _ . ~). RabbitMQ and
# PostgreSQL take their passwords at the first start of an empty volume only.
# Published ports are bound to 127.0.0.1: the gateway on 8080/8443 (MSS_GATEWAY_BIND=0.0.0.0
# exposes it) and, for local tools, PostgreSQL 5432, Redis 6379, RabbitMQ 5672/15672.
# Where local services already hold those ports, move ours: MSS_POSTGRES_PORT,
# MSS_REDIS_PORT, MSS_RABBITMQ_PORT, MSS_RABBITMQ_MANAGEMENT_PORT.
# Images (the same as k8s/): one per service, mss/<service> (services/Dockerfile with
# SERVICE=<service>), and mss/setup (its target `setup`: the one-shot setup and the
# gateway renderer); `docker compose config --images` (Compose v2) lists them.
# Check offline with scripts/check-deploy.

x-logging: &logging
  driver: json-file
  options:
    max-size: "10m"
    max-file: "3"

# What every platform process (setup, APIs, workers) is given.
x-platform-env: &platform-env
  MSS_ENV: production
  MSS_DATABASE_URL: "postgresql://postgres:${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}@postgres:5432/mss"
  MSS_REDIS_URL: redis://redis:6379/0
  MSS_RABBITMQ_URL: "amqp://${MSS_RABBITMQ_USER:-guest}:${MSS_RABBITMQ_PASSWORD:-guest}@rabbitmq:5672/"
  MSS_RUN_DIR: /var/lib/mss
  MSS_JWKS_URL: {jwks_url}
  # Where each API answers the others' internal reads (projection misses). The key of the
  # service tokens they show is generated by setup into the shared run volume.
{internal_urls}  MSS_BIND_HOST: 0.0.0.0
  # The gateway's fixed address (see networks): only it may set X-Real-IP.
  MSS_TRUSTED_PROXIES: '["{gateway_address}"]'
  MSS_DB_POOL_SIZE: "5"
  # The public HTTPS base URL (mailed links): MSS_ENV=production refuses any other.
  MSS_PUBLIC_URL: ${MSS_PUBLIC_URL:-https://localhost:8443}

x-platform-depends: &platform-depends
  postgres:
    condition: service_healthy
  redis:
    condition: service_healthy
  rabbitmq:
    condition: service_healthy
  setup:
    condition: service_completed_successfully

# Hardening + size shared by the long-running platform processes. Their liveness is the
# image's HEALTHCHECK: /live, which checks no dependency, so a broker outage never marks
# them unhealthy.
x-platform: &platform
  restart: unless-stopped
  environment: *platform-env
  depends_on: *platform-depends
  volumes:
    - mss-run:/var/lib/mss
  read_only: true
  tmpfs:
    - /tmp
  cap_drop:
    - ALL
  security_opt:
    - no-new-privileges:true
  mem_limit: {api_memory}
  cpus: {api_cpus}
  logging: *logging

# Workers serve no /live (no HTTP API, only Prometheus metrics on their metrics port, served
# by a thread that answers even when the worker is stuck): a worker that fails exits and
# `restart` brings it back.
x-no-healthcheck: &no-healthcheck
  disable: true

services:
  # --- infrastructure ------------------------------------------------------------------
  postgres:
    image: postgres:15
    restart: unless-stopped
    environment:
      POSTGRES_USER: postgres
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}
      POSTGRES_DB: mss
    command: ["postgres", "-c", "max_connections=200", "-c", "shared_buffers=64MB"]
    ports:
      - "127.0.0.1:${MSS_POSTGRES_PORT:-5432}:5432"
    volumes:
      - pgdata:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U postgres -d mss -h 127.0.0.1"]
      interval: 5s
      timeout: 5s
      retries: 12
      start_period: 10s
    mem_limit: 512m
    cpus: 1.0
    logging: *logging

  redis:
    image: redis:7
    restart: unless-stopped
    # A cache and revocation store whose loss fails closed: no persistence, no eviction.
    command: ["redis-server", "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"]
    ports:
      - "127.0.0.1:${MSS_REDIS_PORT:-6379}:6379"
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 5s
      timeout: 3s
      retries: 12
    mem_limit: 128m
    cpus: 0.25
    logging: *logging

  rabbitmq:
    image: rabbitmq:3.10-management
    restart: unless-stopped
    hostname: rabbitmq
    environment:
      RABBITMQ_DEFAULT_USER: ${MSS_RABBITMQ_USER:-guest}
      RABBITMQ_DEFAULT_PASS: ${MSS_RABBITMQ_PASSWORD:-guest}
    ports:
      - "127.0.0.1:${MSS_RABBITMQ_PORT:-5672}:5672"
      - "127.0.0.1:${MSS_RABBITMQ_MANAGEMENT_PORT:-15672}:15672"
    volumes:
      - rabbitmq-data:/var/lib/rabbitmq
    healthcheck:
      test: ["CMD", "rabbitmq-diagnostics", "-q", "check_port_connectivity"]
      interval: 10s
      timeout: 10s
      retries: 12
      start_period: 20s
    mem_limit: 512m
    cpus: 0.5
    logging: *logging

  # --- one-shot setup: `python scripts/provision.py setup` (idempotent): database,
  # schemas + roles, every service's migrations, signing key, provider org + super admin.
  setup:
    build: &setup-build
      context: .
      dockerfile: services/Dockerfile
      target: setup
    image: mss/setup:${MSS_IMAGE_TAG:-dev}
    restart: "no"
    environment:
      <<: *platform-env
      MSS_BOOTSTRAP_ADMIN_EMAIL: ${MSS_BOOTSTRAP_ADMIN_EMAIL:-admin@mss.local}
      # Passed through only when set on the host; otherwise setup generates one and keeps
      # it in the run volume (secrets/bootstrap-admin-password).
      MSS_BOOTSTRAP_ADMIN_PASSWORD:
      MSS_PROVIDER_NAME: ${MSS_PROVIDER_NAME:-MSS Provider}
    depends_on:
      postgres:
        condition: service_healthy
      redis:
        condition: service_healthy
      rabbitmq:
        condition: service_healthy
    volumes:
      - mss-run:/var/lib/mss
    read_only: true
    tmpfs:
      - /tmp
    cap_drop:
      - ALL
    security_opt:
      - no-new-privileges:true
    mem_limit: 512m
    cpus: 1.0
    logging: *logging
"""

COMPOSE_GATEWAY = """
  # --- gateway -----------------------------------------------------------------------
  # The nginx image has no Python: a one-shot container of the setup image (it carries
  # nginx/ and the registry) renders the config into a volume, nginx serves it. Profile
  # dev: plain HTTP serves the API; profile prod: plain HTTP only redirects to HTTPS.
  gateway-config: &gateway-config
    profiles: ["dev"]
    build: *setup-build
    image: mss/setup:${{MSS_IMAGE_TAG:-dev}}
    restart: "no"
    entrypoint: ["python", "nginx/render.py"]
    command: ["--out", "/etc/mss-gateway"]
    environment: &gateway-config-env
      MSS_GATEWAY_HTTP_PORT: "8080"
      MSS_GATEWAY_HTTPS_PORT: "8443"
      MSS_GATEWAY_LISTEN: 0.0.0.0
      MSS_GATEWAY_WORKERS: "1"
      MSS_GATEWAY_ACCESS_LOG: /dev/stdout
      MSS_GATEWAY_ERROR_LOG: /dev/stderr
      MSS_NGINX_MODULES_DIR: /etc/nginx/modules
{upstreams}    healthcheck: *no-healthcheck
    volumes:
      - gateway-conf:/etc/mss-gateway
    read_only: true
    tmpfs:
      - /tmp
    cap_drop:
      - ALL
    security_opt:
      - no-new-privileges:true
    mem_limit: 128m
    logging: *logging

  gateway-config-prod:
    <<: *gateway-config
    profiles: ["prod"]
    environment:
      <<: *gateway-config-env
      MSS_GATEWAY_HTTP_REDIRECT: "1"
      MSS_GATEWAY_PUBLIC_HTTPS_PORT: ${{MSS_GATEWAY_PUBLIC_HTTPS_PORT:-8443}}

  gateway: &gateway
    profiles: ["dev"]
    image: nginx:1.25
    restart: unless-stopped
    # Skip the image's entrypoint scripts (they edit /etc/nginx, which we do not use). The
    # budgets socket of an nginx that was killed would fail the bind of the next: remove it.
    entrypoint:
      - sh
      - -c
      - >-
        rm -f /etc/mss-gateway/mss-budgets.sock
        && exec nginx -p /etc/mss-gateway -c /etc/mss-gateway/nginx.conf -g 'daemon off;'
    # pid, temp, cache, the budgets socket and the dev certificate all live in the rendered
    # prefix (the volume, owned by 10001), so nginx runs unprivileged with a read-only root.
    user: "10001:10001"
    depends_on:
      gateway-config:
        condition: service_completed_successfully
{gateway_depends}    ports:
      - "${{MSS_GATEWAY_BIND:-127.0.0.1}}:8080:8080"
      - "${{MSS_GATEWAY_BIND:-127.0.0.1}}:8443:8443"
    volumes:
      - gateway-conf:/etc/mss-gateway
    networks:
      default:
        ipv4_address: {gateway_address}
    read_only: true
    tmpfs:
      - /tmp
    cap_drop:
      - ALL
    security_opt:
      - no-new-privileges:true
    healthcheck:
      # nginx's own /health (served over plain HTTP in both profiles); the image has bash
      # but no curl guarantee.
      test:
        - CMD
        - bash
        - -c
        - >-
          exec 3<>/dev/tcp/127.0.0.1/8080
          && printf 'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3
          && head -n 1 <&3 | grep -q ' 200 '
      interval: 15s
      timeout: 5s
      retries: 3
      start_period: 10s
    mem_limit: 128m
    cpus: 0.5
    logging: *logging

  gateway-prod:
    <<: *gateway
    profiles: ["prod"]
    depends_on:
      gateway-config-prod:
        condition: service_completed_successfully
{gateway_depends}
networks:
  default:
    ipam:
      config:
        - subnet: {gateway_subnet}

volumes:
  pgdata:
  rabbitmq-data:
  mss-run:
  gateway-conf:
"""


def _upstream_var(service: str) -> str:
    return f"MSS_{service.upper()}_UPSTREAM"


def gateway_upstreams(services: Iterable[ServiceSpec]) -> list[tuple[str, str]]:
    """(variable, host:port) for nginx/render.py: every API, then the introspection."""
    services = tuple(services)
    pairs = [(_upstream_var(s.name), f"{s.name}-api:{s.api_port}") for s in services]
    for spec in services:
        if _issuer(spec):
            introspect = spec.process(INTROSPECTION)
            pairs.append(("MSS_INTROSPECTION_UPSTREAM", f"{introspect.name}:{introspect.port}"))
    return pairs


def _jwks_url(services: Iterable[ServiceSpec]) -> str:
    issuer = next(s for s in services if _issuer(s))
    return f"http://{issuer.name}-api:{issuer.api_port}/.well-known/jwks.json"


def internal_urls(services: Iterable[ServiceSpec]) -> list[tuple[str, str]]:
    """(variable, URL) per service: where the others reach its internal read endpoints."""
    return [
        (f"MSS_{s.name.upper()}_INTERNAL_URL", f"http://{s.name}-api:{s.api_port}")
        for s in services
    ]


def _compose_environment(spec: ServiceSpec, process: Process) -> str:
    extra: list[str] = []
    if process.command not in ("api", "worker"):
        extra.append(
            f'MSS_HEALTHCHECK_PORT: "{process.port}"   # the image\'s HEALTHCHECK: /live here'
        )
    if _mails(process):
        extra.append("# Mail: passed through from the host when set (see the top of this file).")
        extra += [f"{name}:" for name in MAIL_SETTINGS]
    if not extra:
        return ""
    return "    environment:\n      <<: *platform-env\n" + "".join(f"      {e}\n" for e in extra)


def _compose_process(spec: ServiceSpec, process: Process) -> str:
    if process.command == "api":
        build = (
            f"    build: &{spec.name}-build\n"
            "      context: .\n"
            "      dockerfile: services/Dockerfile\n"
            "      args:\n"
            f"        SERVICE: {spec.name}\n"
        )
    else:
        build = f"    build: *{spec.name}-build\n"
    text = (
        f"  {process.name}:\n"
        "    <<: *platform\n"
        f"{build}"
        f"    image: mss/{spec.name}:${{MSS_IMAGE_TAG:-dev}}\n"
        f'    command: ["{process.command}"]\n'
        f"{_compose_environment(spec, process)}"
    )
    if process.command == "worker":
        text += "    healthcheck: *no-healthcheck\n"
    size = sizing(process)
    if size.compose_memory != API.compose_memory:
        if size is ISSUER_API:
            text += (
                "    # argon2id (19 MiB per hash, 2 hashing workers) needs more than the others.\n"
            )
        text += f"    mem_limit: {size.compose_memory}\n"
    if size.compose_cpus != API.compose_cpus:
        text += f"    cpus: {size.compose_cpus}\n"
    return text


def compose(services: tuple[ServiceSpec, ...]) -> str:
    head = COMPOSE_HEAD.replace("{jwks_url}", _jwks_url(services))
    head = head.replace(
        "{internal_urls}", "".join(f"  {var}: {url}\n" for var, url in internal_urls(services))
    )
    head = head.replace("{gateway_address}", GATEWAY_ADDRESS)
    head = head.replace("{api_memory}", API.compose_memory).replace("{api_cpus}", API.compose_cpus)
    blocks = []
    for spec in services:
        rule = "-" * max(3, 78 - len(spec.name))
        blocks.append(
            f"\n  # --- {spec.name} {rule}\n"
            + "\n".join(_compose_process(spec, p) for p in spec.processes(replicas=False))
        )
    upstreams = "".join(f"      {var}: {addr}\n" for var, addr in gateway_upstreams(services))
    depends = "".join(
        f"      {p.name}:\n        condition: service_started\n"
        for spec in services
        for p in spec.processes(replicas=False)
        if p.command != "worker"
    )
    gateway = COMPOSE_GATEWAY.format(
        upstreams=upstreams,
        gateway_depends=depends,
        gateway_address=GATEWAY_ADDRESS,
        gateway_subnet=GATEWAY_SUBNET,
    )
    return HEADER + head + "".join(blocks) + gateway


# --- k8s/base/<service>.yaml ----------------------------------------------------------

POD_SECURITY = """\
automountServiceAccountToken: false
enableServiceLinks: false
terminationGracePeriodSeconds: 30
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
"""

PLATFORM_ENV = """\
envFrom:
  - configMapRef:
      name: mss-config
env:
  - name: MSS_DATABASE_URL
    valueFrom:
      secretKeyRef: {name: mss-secrets, key: MSS_DATABASE_URL}
  - name: MSS_REDIS_URL
    valueFrom:
      secretKeyRef: {name: mss-secrets, key: MSS_REDIS_URL}
  - name: MSS_RABBITMQ_URL
    valueFrom:
      secretKeyRef: {name: mss-secrets, key: MSS_RABBITMQ_URL}
  # The key of service tokens (internal reads): every pod must hold the same one, and a
  # pod's own run dir would generate its own, so it is required here.
  - name: MSS_SERVICE_TOKEN_SECRET
    valueFrom:
      secretKeyRef: {name: mss-secrets, key: MSS_SERVICE_TOKEN_SECRET}
"""

# The mailer's SMTP account, from mss-secrets when the keys exist (optional: a relay that
# takes mail without login needs none).
MAIL_SECRET_ENV = """\
  - name: MSS_SMTP_USERNAME
    valueFrom:
      secretKeyRef: {name: mss-secrets, key: MSS_SMTP_USERNAME, optional: true}
  - name: MSS_SMTP_PASSWORD
    valueFrom:
      secretKeyRef: {name: mss-secrets, key: MSS_SMTP_PASSWORD, optional: true}
"""

CONTAINER_SECURITY = """\
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: ["ALL"]
"""


def _labels(process: Process) -> str:
    return (
        f"app.kubernetes.io/name: {process.name}\n"
        f"app.kubernetes.io/component: {component(process)}\n"
        "app.kubernetes.io/part-of: mss\n"
        f"mss.io/service: {process.service}\n"
    )


def _probes(process: Process) -> str:
    if process.command == "worker":
        return (
            "# No probe: a worker serves no /live, and its metrics endpoint is a thread of its\n"
            "# own that answers even when the worker is stuck. On a fatal error the worker\n"
            "# exits and is restarted.\n"
        )
    ready = process.probe or "/live"
    return (
        "startupProbe:\n"
        "  httpGet: {path: /live, port: http}\n"
        "  periodSeconds: 5\n"
        "  failureThreshold: 30\n"
        "readinessProbe:\n"
        f"  httpGet: {{path: {ready}, port: http}}\n"
        "  periodSeconds: 10\n"
        "  timeoutSeconds: 3\n"
        "  failureThreshold: 3\n"
        "# /live checks no dependency: while one is down the pod leaves the Service\n"
        "# (readiness), it is never restarted for it.\n"
        "livenessProbe:\n"
        "  httpGet: {path: /live, port: http}\n"
        "  periodSeconds: 20\n"
        "  timeoutSeconds: 5\n"
        "  failureThreshold: 3\n"
    )


def _container(spec: ServiceSpec, process: Process) -> str:
    size = sizing(process)
    port_name = "metrics" if process.command == "worker" else "http"
    env = PLATFORM_ENV + (MAIL_SECRET_ENV if _mails(process) else "")
    mounts = (
        "- {name: tmp, mountPath: /tmp}\n"
        "- {name: run, mountPath: /var/lib/mss}\n"
        "- {name: db-password, mountPath: /var/lib/mss/secrets/db, readOnly: true}\n"
    )
    if _issuer(spec):
        mounts += "- {name: signing-keys, mountPath: /var/lib/mss/keys/signing, readOnly: true}\n"
    resources = (
        "resources:\n"
        + ("  # argon2id: 19 MiB per hash, two hashes at a time.\n" if size is ISSUER_API else "")
        + f"  requests: {{cpu: {size.cpu_request}, memory: {size.memory_request}}}\n"
        f"  limits: {{cpu: {size.cpu_limit}, memory: {size.memory_limit}}}\n"
    )
    return (
        f"- name: {spec.name}\n"
        f"  image: mss/{spec.name}:dev\n"
        f'  args: ["{process.command}"]\n'
        "  ports:\n"
        f"    - name: {port_name}\n"
        f"      containerPort: {process.port}\n"
        + _indent(env, 2)
        + _indent(_probes(process), 2)
        + _indent(resources, 2)
        + _indent(CONTAINER_SECURITY, 2)
        + "  volumeMounts:\n"
        + _indent(mounts, 4)
    )


def _volumes(spec: ServiceSpec) -> str:
    text = (
        "- name: tmp\n"
        "  emptyDir: {sizeLimit: 64Mi}\n"
        "- name: run\n"
        "  emptyDir: {sizeLimit: 16Mi}\n"
        "# This service's own database role password, no other.\n"
        "- name: db-password\n"
        "  secret:\n"
        "    secretName: mss-db-passwords\n"
        "    defaultMode: 0440\n"
        "    items:\n"
        f"      - {{key: {spec.schema}_app, path: {spec.schema}_app}}\n"
    )
    if _issuer(spec):
        text += (
            "- name: signing-keys\n"
            "  secret:\n"
            "    secretName: mss-signing-keys\n"
            "    defaultMode: 0440\n"
        )
    return text


def _deployment(spec: ServiceSpec, process: Process) -> str:
    serves = process.command != "worker"
    spec_head = (
        (
            "# replicas: set by the HorizontalPodAutoscaler\n"
            "revisionHistoryLimit: 3\n"
            "selector:\n"
            "  matchLabels:\n"
            f"    app.kubernetes.io/name: {process.name}\n"
            "strategy:\n"
            "  type: RollingUpdate\n"
            "  rollingUpdate:\n"
            "    maxSurge: 1\n"
            "    maxUnavailable: 0\n"
        )
        if serves
        else (
            "replicas: 1\n"
            "revisionHistoryLimit: 3\n"
            "selector:\n"
            "  matchLabels:\n"
            f"    app.kubernetes.io/name: {process.name}\n"
        )
    )
    annotations = ""
    if process.command in ("api", "worker"):
        annotations = (
            "annotations:\n"
            '  prometheus.io/scrape: "true"\n'
            f'  prometheus.io/port: "{process.port}"\n'
            "  prometheus.io/path: /metrics\n"
        )
    spread = ""
    if serves:
        spread = (
            "topologySpreadConstraints:\n"
            "  - maxSkew: 1\n"
            "    topologyKey: kubernetes.io/hostname\n"
            "    whenUnsatisfiable: ScheduleAnyway\n"
            "    labelSelector:\n"
            "      matchLabels:\n"
            f"        app.kubernetes.io/name: {process.name}\n"
        )
    pod_spec = (
        POD_SECURITY
        + spread
        + "containers:\n"
        + _indent(_container(spec, process), 2)
        + "volumes:\n"
        + _indent(_volumes(spec), 2)
    )
    template = (
        "metadata:\n"
        "  labels:\n"
        + _indent(_labels(process), 4)
        + _indent(annotations, 2)
        + "spec:\n"
        + _indent(pod_spec, 2)
    )
    return (
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        f"  name: {process.name}\n"
        "  labels:\n"
        + _indent(_labels(process), 4)
        + "spec:\n"
        + _indent(spec_head, 2)
        + "  template:\n"
        + _indent(template, 4)
    )


def _small_labels(name: str) -> str:
    return f"  labels:\n    app.kubernetes.io/name: {name}\n    app.kubernetes.io/part-of: mss\n"


def _service_hpa_pdb(process: Process) -> str:
    name = process.name
    return (
        "apiVersion: v1\n"
        "kind: Service\n"
        "metadata:\n"
        f"  name: {name}\n" + _small_labels(name) + "spec:\n"
        "  selector:\n"
        f"    app.kubernetes.io/name: {name}\n"
        "  ports:\n"
        "    - name: http\n"
        f"      port: {process.port}\n"
        "      targetPort: http\n"
        "---\n"
        "apiVersion: autoscaling/v2\n"
        "kind: HorizontalPodAutoscaler\n"
        "metadata:\n"
        f"  name: {name}\n" + _small_labels(name) + "spec:\n"
        "  scaleTargetRef:\n"
        "    apiVersion: apps/v1\n"
        "    kind: Deployment\n"
        f"    name: {name}\n"
        "  minReplicas: 2\n"
        "  maxReplicas: 6\n"
        "  metrics:\n"
        "    - type: Resource\n"
        "      resource:\n"
        "        name: cpu\n"
        "        target:\n"
        "          type: Utilization\n"
        "          averageUtilization: 70\n"
        "---\n"
        "apiVersion: policy/v1\n"
        "kind: PodDisruptionBudget\n"
        "metadata:\n"
        f"  name: {name}\n" + _small_labels(name) + "spec:\n"
        "  maxUnavailable: 1\n"
        "  selector:\n"
        "    matchLabels:\n"
        f"      app.kubernetes.io/name: {name}\n"
    )


def service_manifests(spec: ServiceSpec) -> str:
    processes = spec.processes(replicas=False)
    described = ", ".join(
        f"{p.command} ({p.port})" if p.command != "worker" else "event worker" for p in processes
    )
    intro = (
        f"# {spec.name}: {described}.\n"
        f"# All run the mss/{spec.name} image; the argument picks the process.\n"
    )
    documents = [_deployment(spec, p) for p in processes]
    documents += [_service_hpa_pdb(p) for p in processes if p.command != "worker"]
    return HEADER + intro + "---\n".join(documents)


# --- k8s/base/kustomization.yaml, config.yaml ------------------------------------------


def kustomization(services: tuple[ServiceSpec, ...]) -> str:
    resources = ["namespace.yaml", "config.yaml", "network-policies.yaml", "setup-job.yaml"]
    resources += [f"{spec.name}.yaml" for spec in services]
    resources.append("gateway.yaml")
    return (
        HEADER + "# MSS Platform on Kubernetes: base. Build an overlay, not this directly:\n"
        "#   kubectl kustomize k8s/overlays/dev | kubectl apply -f -\n"
        "# Needs three Secrets in namespace mss first (never committed): see k8s/README.md.\n"
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "namespace: mss\n"
        "resources:\n" + "".join(f"  - {name}\n" for name in resources)
    )


def config(services: tuple[ServiceSpec, ...]) -> str:
    upstreams = "".join(f"  {var}: {addr}\n" for var, addr in gateway_upstreams(services))
    return (
        HEADER + "# Non-secret settings. Secrets are never committed: see k8s/README.md for the\n"
        "# three Secrets the manifests reference by name (mss-secrets, mss-db-passwords,\n"
        "# mss-signing-keys).\n"
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: mss-config\n"
        "  labels:\n"
        "    app.kubernetes.io/part-of: mss\n"
        "data:\n"
        "  MSS_ENV: production\n"
        "  MSS_BIND_HOST: 0.0.0.0\n"
        "  # Run dir: an emptyDir per pod; the role passwords (secrets/db/<role>) and the\n"
        "  # issuer's signing keys (keys/signing/*.pem) are mounted into it from Secrets.\n"
        "  MSS_RUN_DIR: /var/lib/mss\n"
        f"  MSS_JWKS_URL: {_jwks_url(services)}\n"
        "  # Where each API answers the others' internal reads (projection misses).\n"
        + "".join(f"  {var}: {url}\n" for var, url in internal_urls(services))
        + "  MSS_LOG_LEVEL: INFO\n"
        '  MSS_DB_POOL_SIZE: "10"\n'
        "  # Mail (read by the mailer only): set your relay in an overlay (SMTP account in\n"
        "  # mss-secrets: MSS_SMTP_USERNAME, MSS_SMTP_PASSWORD).\n"
        "  MSS_SMTP_HOST: smtp.example.com\n"
        '  MSS_SMTP_PORT: "587"\n'
        '  MSS_SMTP_STARTTLS: "true"\n'
        "  MSS_PUBLIC_URL: https://mss.example.com\n"
        "---\n"
        "# Gateway: read by nginx/render.py in the gateway's initContainer.\n"
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: mss-gateway-config\n"
        "  labels:\n"
        "    app.kubernetes.io/part-of: mss\n"
        "data:\n"
        '  MSS_GATEWAY_HTTP_PORT: "8080"\n'
        '  MSS_GATEWAY_HTTPS_PORT: "8443"\n'
        "  MSS_GATEWAY_LISTEN: 0.0.0.0\n"
        '  MSS_GATEWAY_WORKERS: "2"\n'
        "  MSS_GATEWAY_ACCESS_LOG: /dev/stdout\n"
        "  MSS_GATEWAY_ERROR_LOG: /dev/stderr\n"
        "  MSS_NGINX_MODULES_DIR: /etc/nginx/modules\n" + upstreams
    )


# --- k8s/base/network-policies.yaml ----------------------------------------------------


def _policy(name: str, selector: str, kinds: str, rules: str) -> str:
    return (
        "apiVersion: networking.k8s.io/v1\n"
        "kind: NetworkPolicy\n"
        "metadata:\n"
        f"  name: {name}\n"
        "  labels:\n"
        "    app.kubernetes.io/part-of: mss\n"
        "spec:\n"
        "  podSelector:\n" + _indent(selector, 4) + f'  policyTypes: ["{kinds}"]\n' + rules
    )


def _by_name(name: str) -> str:
    return f"matchLabels:\n  app.kubernetes.io/name: {name}\n"


def _tcp(*ports: int) -> str:
    return "".join(f"- {{protocol: TCP, port: {port}}}\n" for port in ports)


DNS = "- ports:\n    - {protocol: UDP, port: 53}\n    - {protocol: TCP, port: 53}\n"
MONITORING = (
    "- from:\n"
    "    - namespaceSelector:\n"
    "        matchLabels:\n"
    "          kubernetes.io/metadata.name: monitoring\n"
)


def network_policies(services: tuple[ServiceSpec, ...]) -> str:
    served = [
        p for spec in services for p in spec.processes(replicas=False) if p.command != "worker"
    ]
    # Every platform pod (APIs, workers, extra processes, setup): what calls the APIs.
    components = sorted(
        {component(p) for s in services for p in s.processes(replicas=False)} | {"setup"}
    )
    platform = (
        "matchExpressions:\n"
        "  - {key: app.kubernetes.io/component, operator: In, values: ["
        + ", ".join(f'"{c}"' for c in components)
        + "]}\n"
    )
    documents = [
        _policy("default-deny-ingress", "{}\n", "Ingress", "").replace(
            "  podSelector:\n    {}\n", "  podSelector: {}\n"
        ),
        _policy(
            "gateway-ingress",
            _by_name("gateway"),
            "Ingress",
            "  ingress:\n" + _indent("- ports:\n" + _indent(_tcp(8080, 8443), 4), 4),
        ),
    ]
    for process in served:
        rules = (
            "- from:\n"
            "    - podSelector:\n"
            + _indent(_by_name("gateway"), 8)
            + "    - podSelector:\n"
            + _indent(platform, 8)
            + "  ports:\n"
            + _indent(_tcp(process.port), 4)
        )
        if process.command == "api":
            rules += MONITORING + "  ports:\n" + _indent(_tcp(process.port), 4)
        documents.append(
            _policy(
                f"{process.name}-ingress",
                _by_name(process.name),
                "Ingress",
                "  ingress:\n" + _indent(rules, 4),
            )
        )
    for spec in services:
        worker = spec.process("worker")
        rules = MONITORING + "  ports:\n" + _indent(_tcp(worker.port), 4)
        documents.append(
            _policy(
                f"{worker.name}-ingress",
                _by_name(worker.name),
                "Ingress",
                "  ingress:\n" + _indent(rules, 4),
            )
        )

    def to_served() -> str:
        return "".join(
            "- to:\n"
            "    - podSelector:\n"
            + _indent(_by_name(p.name), 8)
            + "  ports:\n"
            + _indent(_tcp(p.port), 4)
            for p in served
        )

    platform_egress = DNS + "- ports:\n" + _indent(_tcp(5432, 6379, 5672), 4) + to_served()
    documents.append(
        _policy(
            "platform-egress",
            platform,
            "Egress",
            "  egress:\n" + _indent(platform_egress, 4),
        )
    )
    documents.append(
        _policy(
            "gateway-egress",
            _by_name("gateway"),
            "Egress",
            "  egress:\n" + _indent(DNS + to_served(), 4),
        )
    )
    for process in (p for spec in services for p in spec.processes(replicas=False) if _mails(p)):
        documents.append(
            _policy(
                f"{process.name}-smtp-egress",
                _by_name(process.name),
                "Egress",
                "  egress:\n" + _indent("- ports:\n" + _indent(_tcp(*SMTP_PORTS), 4), 4),
            )
        )
    intro = (
        "# Ingress is denied by default; what is open is listed here, per process:\n"
        "#   clients -> gateway (8080/8443)\n"
        "#   gateway and platform pods -> each API and extra process, on its own port\n"
        "#   (JWKS, token introspection, fresh reads between services)\n"
        "#   monitoring namespace -> /metrics of each API and worker\n"
        "# Egress of platform pods (APIs, workers, extra processes, setup): DNS, PostgreSQL\n"
        "# (5432), Redis (6379), RabbitMQ (5672) and the ports of the processes above; the\n"
        f"# mailer ({MAILER}) also SMTP ({', '.join(map(str, SMTP_PORTS))}). Nothing else.\n"
        "# PostgreSQL/Redis/RabbitMQ run outside this namespace (managed services or their own\n"
        "# namespace); narrow the egress rules with ipBlock/namespaceSelector in an overlay.\n"
    )
    return HEADER + intro + "---\n".join(documents)


# --- k8s/overlays/prod/images.yaml ------------------------------------------------------


def prod_images(services: tuple[ServiceSpec, ...]) -> str:
    images = [spec.name for spec in services] + ["setup"]
    documents = [
        "apiVersion: builtin\n"
        "kind: ImageTagTransformer\n"
        "metadata:\n"
        f"  name: mss-{image}\n"
        "imageTag:\n"
        f"  name: mss/{image}\n"
        f"  newName: {PROD_IMAGE_REGISTRY}/{image}\n"
        f'  newTag: "{PROD_IMAGE_TAG}"\n'
        for image in images
    ]
    intro = (
        "# Where each platform image comes from in production (a kustomize transformer\n"
        "# config, see kustomization.yaml). Set PROD_IMAGE_REGISTRY and PROD_IMAGE_TAG in\n"
        "# scripts/lib/deploy.py to your registry and release.\n"
    )
    return HEADER + intro + "---\n".join(documents)


# --- files, writing and checking ----------------------------------------------------------


def render(services: tuple[ServiceSpec, ...]) -> dict[str, str]:
    """Every generated file by its path from the repository root, in a stable order."""
    files = {"docker-compose.yml": compose(services)}
    for spec in services:
        files[f"k8s/base/{spec.name}.yaml"] = service_manifests(spec)
    files["k8s/base/kustomization.yaml"] = kustomization(services)
    files["k8s/base/config.yaml"] = config(services)
    files["k8s/base/network-policies.yaml"] = network_policies(services)
    files["k8s/overlays/prod/images.yaml"] = prod_images(services)
    return files


def stale(root: Path, files: dict[str, str]) -> list[str]:
    """Generated files of services no longer registered (k8s/base/<name>.yaml)."""
    found = []
    for path in sorted((root / "k8s" / "base").glob("*.yaml")):
        name = path.relative_to(root).as_posix()
        if name not in files and GENERATED_MARK in path.read_text()[:500]:
            found.append(name)
    return found


def check(root: Path, files: dict[str, str]) -> list[str]:
    """Unified diffs between the committed files and what the registry gives."""
    diffs = []
    for name, text in files.items():
        path = root / name
        current = path.read_text() if path.is_file() else ""
        if current != text:
            diffs.append(
                "".join(
                    difflib.unified_diff(
                        current.splitlines(True),
                        text.splitlines(True),
                        fromfile=f"{name} (committed)",
                        tofile=f"{name} (generated)",
                    )
                )
            )
    diffs += [
        f"{name}: generated for a service the registry no longer has\n"
        for name in stale(root, files)
    ]
    return diffs


def write(root: Path, files: dict[str, str]) -> list[str]:
    """Writes the files that changed, removes stale ones; returns what it touched."""
    touched = []
    for name, text in files.items():
        path = root / name
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            touched.append(name)
    for name in stale(root, files):
        (root / name).unlink()
        touched.append(f"{name} (removed)")
    return touched


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/generate-deploy",
        description="Write docker-compose.yml and k8s/ from services/registry.toml.",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; fail if a file differs"
    )
    args = parser.parse_args(argv)
    files = render(_services())
    if args.check:
        diffs = check(ROOT, files)
        for diff in diffs:
            sys.stdout.write(diff)
        if diffs:
            print(
                f"generate-deploy: {len(diffs)} file(s) differ from the registry: "
                "run scripts/generate-deploy and commit the result",
                file=sys.stderr,
            )
            return 1
        print(f"generate-deploy: {len(files)} files match the registry")
        return 0
    touched = write(ROOT, files)
    for name in touched:
        print(f"  wrote {name}")
    print(f"generate-deploy: {len(files)} files, {len(touched)} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
