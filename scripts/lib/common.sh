# Shared by scripts/up, scripts/down and scripts/test: paths, the Python env, process control.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# MSS_PORT_OFFSET (e.g. 10000) shifts every port, and names the databases and bus namespaces
# apart, so a second checkout runs a whole platform (and its tests) beside the first.
export MSS_PORT_OFFSET="${MSS_PORT_OFFSET:-0}"
MSS_SUFFIX=""; [ "$MSS_PORT_OFFSET" != 0 ] && MSS_SUFFIX="_$MSS_PORT_OFFSET"
export MSS_RUN_DIR="${MSS_RUN_DIR:-$ROOT/.run$MSS_SUFFIX}"
export MSS_DATABASE_URL="${MSS_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/mss$MSS_SUFFIX}"
[ -n "$MSS_SUFFIX" ] && export MSS_BUS_NAMESPACE="${MSS_BUS_NAMESPACE:-p$MSS_PORT_OFFSET.}"
export MSS_REDIS_URL="${MSS_REDIS_URL:-redis://127.0.0.1:6379/0}"
export MSS_RABBITMQ_URL="${MSS_RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/}"
PY="$ROOT/.venv/bin/python"
PIDS="$MSS_RUN_DIR/pids"
LOGS="$MSS_RUN_DIR/logs"

export MSS_GATEWAY_HTTP_PORT="${MSS_GATEWAY_HTTP_PORT:-$((8080 + MSS_PORT_OFFSET))}"
export MSS_GATEWAY_HTTPS_PORT="${MSS_GATEWAY_HTTPS_PORT:-$((8443 + MSS_PORT_OFFSET))}"
export MSS_GATEWAY_URL="${MSS_GATEWAY_URL:-http://127.0.0.1:$MSS_GATEWAY_HTTP_PORT}"
export MSS_GATEWAY_HTTPS_URL="${MSS_GATEWAY_HTTPS_URL:-https://127.0.0.1:$MSS_GATEWAY_HTTPS_PORT}"
export MSS_SMTP_PORT="${MSS_SMTP_PORT:-$((1025 + MSS_PORT_OFFSET))}"

# Every process of every service, from the registry (services/registry.toml), one line each:
# name module command port probe. The loader needs only the standard library.
mapfile -t PROCESSES < <(python3 "$ROOT/libs/src/mss_settings/registry.py" processes)
[ ${#PROCESSES[@]} -gt 0 ] || { echo "error: no services in services/registry.toml" >&2; exit 1; }

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

ensure_uv() {
  if ! command -v uv >/dev/null 2>&1; then
    say "installing uv"
    python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
    export PATH="$HOME/.local/bin:$PATH"
  fi
  command -v uv >/dev/null 2>&1 || die "uv could not be installed"
}

ensure_python_env() {
  ensure_uv
  say "python environment (uv sync)"
  (cd "$ROOT" && uv sync --frozen --all-packages --quiet) || die "uv sync failed"
}

ensure_nginx() {
  if command -v nginx >/dev/null 2>&1 && ls /usr/lib/nginx/modules/ngx_http_js_module.so >/dev/null 2>&1; then
    return
  fi
  say "installing nginx + njs (Debian packages)"
  apt_install nginx libnginx-mod-http-js || die "could not install nginx and libnginx-mod-http-js"
}

ensure_report_rendering() {
  # The security service renders report PDFs with WeasyPrint: Pango (with its FreeType and
  # HarfBuzz backends) and the DejaVu fonts the template names, from Debian, so that every
  # machine — CI's fresh one included — renders the same document.
  if ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so.0' \
    && fc-list 2>/dev/null | grep -qi 'DejaVuSans'; then
    return
  fi
  say "installing Pango and the DejaVu fonts (Debian packages) for report PDFs"
  apt_install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fontconfig fonts-dejavu-core \
    || die "could not install the report rendering packages (pango, fonts-dejavu-core)"
}

apt_install() {
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

ensure_wrk() {
  # The HTTP load generator of `scripts/bench api` (Debian package).
  command -v wrk >/dev/null 2>&1 && return
  say "installing wrk (Debian package) for the HTTP benchmarks"
  apt_install wrk || die "could not install wrk"
}

ensure_compose_validator() {
  # docker-compose.yml is validated offline (no Docker engine needed): Debian's docker-compose.
  command -v docker-compose >/dev/null 2>&1 && return
  say "installing docker-compose (Debian package) to validate docker-compose.yml offline"
  apt_install docker-compose || say "docker-compose unavailable: scripts/check-deploy will report it skipped"
}

pid_alive() { [ -f "$PIDS/$1.pid" ] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }

wait_http() {  # url timeout_s
  local url=$1 deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.3
  done
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
