# shellcheck shell=bash
# Installing Debian packages for the project's scripts (up.sh, cluster-up.sh,
# check-compose.sh, ensure-chromium.sh, deploy/prometheus/check.sh). Sourced,
# not executed; the sourcing script defines log and die, and may set APT_HINT
# (appended to the no-apt-get message).

# as_root runs a command as root: directly, or with sudo.
as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

# apt_install installs packages without recommends, after an apt-get update.
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* by hand${APT_HINT:+ ($APT_HINT)}"
  log "installing $* with apt-get"
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# ensure_redis_installed installs Debian's redis-server and redis-cli when
# missing (up.sh and cluster-up.sh).
ensure_redis_installed() {
  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server
  fi
  if ! command -v redis-cli >/dev/null 2>&1; then
    apt_install redis-tools
  fi
}
