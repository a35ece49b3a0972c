#!/bin/sh
# `warroom drill` needs a real Prometheus and Alertmanager. Install them where we can (Debian-like,
# root); otherwise say exactly what to install. Never fails `make run`: the stack itself needs neither.
if command -v prometheus >/dev/null 2>&1 && command -v prometheus-alertmanager >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "warroom: installing prometheus and prometheus-alertmanager for \`warroom drill\` (apt-get)…"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null \
    && exit 0
  echo "warroom: the install failed; \`warroom drill\` will not run until they are installed." >&2
else
  echo "warroom: \`warroom drill\` needs Prometheus and Alertmanager: sudo apt-get install prometheus prometheus-alertmanager" >&2
  echo "         (or any install that puts \`prometheus\` and \`prometheus-alertmanager\` on PATH)" >&2
fi
exit 0
