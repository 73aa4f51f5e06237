#!/usr/bin/env bash
# A second Docker Engine playing a remote GPU host: its own network namespace and address
# (a veth pair, 10.231.0.1 here <-> 10.231.0.2 there), its own host name and weights disk
# (a UTS and a mount namespace: a 2 GiB tmpfs at $WEIGHTS that only its containers see), reached
# over tcp:// with TLS (a CA and server/client certificates made here with openssl). Its own bridge
# (172.31.231.0/24, no iptables: Docker's userland proxy publishes ports on 10.231.0.2) lets a vLLM
# container there serve this machine, as a GPU host's engine does. The local
# base image is copied onto it with `docker save | docker load` (no registry is reachable).
#
#   tests/docker/start_gpu_host_engine.sh      (idempotent: an engine that answers is kept)
#
# The tests read the same defaults (tests/docker/gpu_host.py); every address used is one of the pair's.
# dockerd starts under nsenter, not `ip netns exec`: the latter remounts /sys and hides the cgroup
# mounts, and the daemon dies with "Devices cgroup isn't mounted".
set -euo pipefail
NS="${EVAL_GPU_HOST_NS:-vllm-eval-gpu-host}"
HOST_IP=10.231.0.1
ENGINE_IP=10.231.0.2
PORT=2376
NAME=eval-gpu-host
STATE="${EVAL_GPU_HOST_DIR:-/var/lib/vllm-eval-gpu-host}"
RUN=/run/vllm-eval-gpu-host
TLS="$STATE/tls"
WEIGHTS=/srv/vllm-eval-gpu-host/weights
BASE_IMAGE=vllm/vllm-openai:local-cpu-base
remote() { docker --tlsverify --tlscacert "$TLS/ca.pem" --tlscert "$TLS/cert.pem" --tlskey "$TLS/key.pem" \
    -H "tcp://$ENGINE_IP:$PORT" "$@"; }

if [ -f "$TLS/cert.pem" ] && remote info >/dev/null 2>&1 && ! remote network inspect bridge >/dev/null 2>&1; then
    # An engine started without a bridge cannot publish a server's port: restart it with one.
    kill "$(cat "$RUN/dockerd.pid")" 2>/dev/null || true
    for _ in $(seq 1 40); do remote info >/dev/null 2>&1 || break; sleep 0.5; done
fi
if [ -f "$TLS/cert.pem" ] && remote info >/dev/null 2>&1; then
    echo "GPU host engine already answers at tcp://$ENGINE_IP:$PORT"
else
    # The namespace and the veth pair between it and this machine.
    ip netns list | grep -qw "$NS" || ip netns add "$NS"
    if ! ip link show veth-evalgh0 >/dev/null 2>&1; then
        ip link add veth-evalgh0 type veth peer name veth-evalgh1
        ip link set veth-evalgh1 netns "$NS"
        ip addr add "$HOST_IP/30" dev veth-evalgh0
        ip link set veth-evalgh0 up
        ip -n "$NS" addr add "$ENGINE_IP/30" dev veth-evalgh1
        ip -n "$NS" link set veth-evalgh1 up
        ip -n "$NS" link set lo up
    fi
    # A CA, the engine's certificate for its address, and a client certificate (docker's file names).
    if [ ! -f "$TLS/cert.pem" ]; then
        mkdir -p "$TLS" && chmod 700 "$TLS" && cd "$TLS"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=vllm-eval test CA" \
            -keyout ca-key.pem -out ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=$NAME" -keyout server-key.pem -out server.csr 2>/dev/null
        printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$ENGINE_IP" >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
            -extfile server.ext -out server-cert.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=vllm-eval client" -keyout key.pem -out client.csr 2>/dev/null
        printf 'extendedKeyUsage=clientAuth\n' >client.ext
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
            -extfile client.ext -out cert.pem 2>/dev/null
        rm -f ./*.csr ./*.ext && cd - >/dev/null
    fi
    mkdir -p "$STATE/data" "$RUN/exec" "$WEIGHTS"
    if [ -f "$RUN/dockerd.pid" ] && ! kill -0 "$(cat "$RUN/dockerd.pid")" 2>/dev/null; then
        rm -f "$RUN/dockerd.pid"
    fi
    LOG="$STATE/dockerd.log"
    nohup nsenter --net="/var/run/netns/$NS" unshare --mount --uts --propagation private sh -c "
        hostname $NAME
        mount -t tmpfs -o size=2g vllm-eval-gpu-host-weights $WEIGHTS
        exec dockerd --host tcp://$ENGINE_IP:$PORT --tlsverify --tlscacert $TLS/ca.pem \
            --tlscert $TLS/server-cert.pem --tlskey $TLS/server-key.pem \
            --host unix://$RUN/docker.sock --data-root $STATE/data --exec-root $RUN/exec \
            --pidfile $RUN/dockerd.pid --bip 172.31.231.1/24 --iptables=false --ip6tables=false" >"$LOG" 2>&1 &
    for _ in $(seq 1 60); do
        remote info >/dev/null 2>&1 && break
        sleep 0.5
    done
    remote info >/dev/null 2>&1 || { echo "the GPU host engine did not answer within 30 s; its log:" >&2; tail -20 "$LOG" >&2; exit 1; }
    echo "GPU host engine started at tcp://$ENGINE_IP:$PORT (host name $NAME, log $LOG)"
fi
if ! remote image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    started=$(date +%s)
    docker save "$BASE_IMAGE" | remote load >/dev/null
    echo "copied $BASE_IMAGE onto the GPU host engine in $(( $(date +%s) - started )) s"
fi
