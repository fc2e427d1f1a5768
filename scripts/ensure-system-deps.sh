#!/usr/bin/env bash
# Installs the system packages MediaCraft needs (ffmpeg, RabbitMQ) when missing, and starts the
# broker when it is down. Debian/Ubuntu with apt; elsewhere it says what is missing.
set -euo pipefail

missing=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)

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

if ! rabbitmqctl -q status >/dev/null 2>&1; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  rabbitmqctl -q wait --timeout 60 --pid "$(cat /var/lib/rabbitmq/mnesia/*.pid 2>/dev/null | head -n1)" >/dev/null 2>&1 \
    || timeout 60 bash -c 'until rabbitmqctl -q status >/dev/null 2>&1; do sleep 1; done'
fi
rabbitmqctl -q status >/dev/null 2>&1 || { echo "RabbitMQ is not running" >&2; exit 1; }
