#!/usr/bin/env bash
# Starts a Docker Engine by hand (no systemd on these machines) and waits until it answers.
# Installs Debian's docker.io and mmdebstrap (for the base image) when they are missing.
set -euo pipefail
if ! command -v dockerd >/dev/null || ! command -v mmdebstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io mmdebstrap >/dev/null
fi
if docker info >/dev/null 2>&1; then
    echo "Docker Engine already running"
    exit 0
fi
# A dockerd ended without its shutdown (CI ends every process a session left) leaves its pid file,
# and a new one refuses to start while it is there.
if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
fi
LOG="${DOCKERD_LOG:-/tmp/dockerd.log}"
nohup dockerd >"$LOG" 2>&1 &
for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
        echo "Docker Engine started (pid $!, log $LOG)"
        exit 0
    fi
    sleep 0.5
done
echo "dockerd did not answer within 30 s; its log:" >&2
tail -20 "$LOG" >&2
exit 1
