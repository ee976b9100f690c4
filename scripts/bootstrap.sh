#!/usr/bin/env bash
# Prepare this checkout to run or test rtcsite on Debian 12 with Python 3.11.
#
#   scripts/bootstrap.sh run    # Debian packages for serving + .venv with requirements.txt
#   scripts/bootstrap.sh test   # the same, plus chromium/firefox-esr/nginx and requirements-dev.txt
#
# Idempotent and quick on a second run: Debian packages are installed only when a
# command is missing, and pip runs only when the requirements files changed.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3

say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }

# ---- Debian packages -------------------------------------------------------
# command name -> Debian package
declare -A wanted=([redis-server]=redis-server [turnserver]=coturn [turnutils_uclient]=coturn [msgfmt]=gettext)
if [ "$mode" = test ]; then
  wanted[chromium]=chromium
  wanted[nginx]=nginx
  wanted[openssl]=openssl
  wanted[node]=nodejs
  wanted[npm]=npm
  wanted[firefox-esr]=firefox-esr
fi
missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]}"
    say "install them as root:  sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  # Keep apt from starting the packages' system services (we run private instances).
  created_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  trap '[ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  for cmd in "${!wanted[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || { say "still missing after install: $cmd"; exit 1; }
  done
fi

# The Firefox tests need firefox-esr from Debian's security updates (153 or later; plain
# bookworm has 140): upgrade it when an older one is installed.
if [ "$mode" = test ]; then
  firefox_version() {  # the installed version, empty when not installed
    dpkg-query -W -f='${db:Status-Status} ${Version}\n' firefox-esr 2>/dev/null | sed -n 's/^installed //p' || true
  }
  version=$(firefox_version)
  if [ -z "$version" ] || [ "${version%%.*}" -lt 153 ]; then
    if [ "$(id -u)" -ne 0 ]; then
      say "firefox-esr ${version:-missing}: 153 or later (bookworm-security) is needed"
      say "install it as root:  sudo apt-get update && sudo apt-get install -y firefox-esr"
      exit 1
    fi
    say "installing firefox-esr from Debian's security updates (found: ${version:-none})"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends firefox-esr >/dev/null
    version=$(firefox_version)
    if [ -z "$version" ] || [ "${version%%.*}" -lt 153 ]; then
      say "firefox-esr ${version:-missing} after install, 153 or later needed: is bookworm-security in the apt sources?"
      exit 1
    fi
  fi
fi

# ---- Python virtualenv -----------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $python"
  "$python" -m venv .venv
fi
reqs=requirements.txt
[ "$mode" = test ] && reqs=requirements-dev.txt
stamp=.venv/.installed-$mode
digest=$(cat requirements.txt "$reqs" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  say "installing Python packages from $reqs"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$reqs"
  echo "$digest" >"$stamp"
fi

# ---- Node projects: load generator and yardstick (benchmark smoke tests), Firefox driver, axe-core -----
if [ "$mode" = test ]; then
  for dir in bench/loadgen bench/yardstick tests/browser/firefox tests/browser/axe; do
    lock=$dir/package-lock.json
    lockstamp=$dir/node_modules/.installed
    if [ ! -f "$lockstamp" ] || [ "$(sha256sum <"$lock")" != "$(cat "$lockstamp")" ]; then
      say "installing the Node packages of $dir (npm ci)"
      (cd "$dir" && npm ci --silent --no-audit --no-fund)
      sha256sum <"$lock" >"$lockstamp"
    fi
  done
fi

# ---- Translations: locale/*/LC_MESSAGES/*.po -> .mo (not committed; skipped when up to date) --
# devstack imports nothing from Django and compiles without settings, so no secret key is needed.
.venv/bin/python -c "import devstack; devstack.compile_messages()"
