#!/bin/sh
# The Debian packages warroom's two commands need, installed where we can (Debian-like, root).
#
#   scripts/system-deps.sh test   what `make test` needs: the suite talks to a real Prometheus,
#                                 Alertmanager, kubectl, PostgreSQL, Chromium and an ssh client.
#                                 Missing and not installable here: exit 1, naming the packages and
#                                 the command that installs them (the tests never skip instead).
#   scripts/system-deps.sh run    what `warroom drill` needs (Prometheus, Alertmanager). Never fails
#                                 `make run`: the stack itself needs neither.
#   scripts/system-deps.sh check  list what `make test` would install; install nothing.
set -u
mode=${1:-test}

# package:command that proves it is installed
case "$mode" in
  run) wanted="prometheus:prometheus prometheus-alertmanager:prometheus-alertmanager" ;;
  test|check) wanted="prometheus:prometheus prometheus-alertmanager:prometheus-alertmanager kubectl:kubectl
        postgresql:/usr/lib/postgresql/*/bin/initdb chromium:chromium openssh-client:ssh" ;;
  *) echo "usage: $0 test|run|check" >&2; exit 2 ;;
esac

installed() {
  for candidate in $1; do  # unquoted on purpose: a glob such as /usr/lib/postgresql/*/bin/initdb
    case "$candidate" in
      /*) [ -x "$candidate" ] && return 0 ;;
      *) command -v "$candidate" >/dev/null 2>&1 && return 0 ;;
    esac
  done
  return 1
}

missing=""
for entry in $wanted; do
  installed "${entry#*:}" || missing="$missing ${entry%%:*}"
done
missing=${missing# }
[ -z "$missing" ] && exit 0

if [ "$mode" = check ]; then
  echo "missing Debian packages: $missing"
  exit 1
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "warroom: installing $missing (apt-get, once)…"
  if DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
     DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
    exit 0
  fi
  echo "warroom: apt-get could not install: $missing" >&2
fi

how="sudo apt-get install -y --no-install-recommends $missing"
if [ "$mode" = run ]; then
  echo "warroom: \`warroom drill\` needs $missing: $how" >&2
  echo "         (or any install that puts \`prometheus\` and \`prometheus-alertmanager\` on PATH)" >&2
  exit 0
fi
echo "warroom: the test suite talks to real $missing and will not skip them." >&2
echo "         Install them, then run \`make test\` again:  $how" >&2
echo "         (root on Debian or Ubuntu: \`make test\` installs them itself.)" >&2
exit 1
