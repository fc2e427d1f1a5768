#!/usr/bin/env bash
# Installs the system packages MediaCraft needs (ffmpeg, RabbitMQ; Chromium and CJK fonts for the
# browser tests) when missing, and starts the broker when it is down. Debian/Ubuntu with apt;
# elsewhere it says what is missing.
# --no-broker: only ffmpeg (the single-process mode needs no RabbitMQ and no browser).
set -euo pipefail

broker=1
[ "${1:-}" = "--no-broker" ] && broker=0

missing=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
[ $broker = 1 ] && { command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server); }
[ $broker = 1 ] && { [ -x /usr/bin/chromium ] || missing+=(chromium fonts-noto-cjk); }

if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing ${missing[*]} from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing system packages: ${missing[*]} (install them, e.g. apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

[ $broker = 1 ] || exit 0

if ! rabbitmqctl -q status >/dev/null 2>&1; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  timeout 120 bash -c 'until rabbitmqctl -q await_startup >/dev/null 2>&1; do sleep 1; done' || true
fi
rabbitmqctl -q status >/dev/null 2>&1 || { echo "RabbitMQ is not running" >&2; exit 1; }
