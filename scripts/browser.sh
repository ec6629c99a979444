#!/usr/bin/env bash
# The real browser the dashboard tests drive with Playwright: install | path | version.
#
# Debian's chromium, installed with apt-get when missing (as CI runs on a fresh machine; needs root).
# Playwright's own browser download cannot work on these machines (no internet besides the package
# registries), so the tests launch this executable through `executable_path`; the playwright Python
# package is a locked dev dependency (`make venv`). GRIPCTL_CHROMIUM points at another executable.
# Idempotent: `install` with chromium present only says so.
set -euo pipefail

CHROMIUM="${GRIPCTL_CHROMIUM:-/usr/bin/chromium}"

die() { echo "browser.sh: $*" >&2; exit 1; }

version() { "$CHROMIUM" --version 2>/dev/null; }

install() {
    if [[ ! -x "$CHROMIUM" ]]; then
        [[ -z "${GRIPCTL_CHROMIUM:-}" ]] || die "GRIPCTL_CHROMIUM=$CHROMIUM is not an executable file"
        [[ $(id -u) -eq 0 ]] || die "chromium is missing; run as root or: sudo apt-get install -y chromium"
        echo "browser.sh: installing Debian's chromium package" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends chromium >/dev/null
    fi
    local v
    v=$(version) || die "$CHROMIUM does not start (\`$CHROMIUM --version\` failed); reinstall: apt-get install --reinstall chromium"
    echo "browser.sh: $v ($CHROMIUM)"
}

case "${1:-install}" in
    install) install ;;
    path) echo "$CHROMIUM" ;;
    version) version || die "$CHROMIUM is missing or does not start; run scripts/browser.sh install" ;;
    *) die "usage: scripts/browser.sh [install|path|version]" ;;
esac
