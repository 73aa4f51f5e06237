#!/usr/bin/env bash
# A third Docker Engine playing a GPU host reached over ssh://, as most GPU hosts are: its own
# network namespace and address (a veth pair, 10.232.0.1 here <-> 10.232.0.2 there) and host name
# (a UTS namespace), a dockerd that listens only on its own unix socket there, and an OpenSSH
# server (Debian's openssh-server) on 10.232.0.2:22 that takes only this machine's key. The key
# pair, the server's host key and its known_hosts line are made here, in the engine's state folder,
# and a marked Host block at the top of /root/.ssh/config points ssh at them, so
# `docker -H ssh://root@10.232.0.2 info` works with no prompt. The client runs
# `docker system dial-stdio` over ssh on the far side (docker-py does the same through the ssh
# binary), so the docker CLI must be on the server's PATH (here: the same filesystem), and the
# server hands each session DOCKER_HOST, the engine's socket. Its own bridge (172.31.232.0/24, no
# iptables: Docker's userland proxy publishes ports on 10.232.0.2) lets a vLLM container there
# serve this machine. The local base image is copied onto it with `docker save | docker load`.
#
#   tests/docker/start_ssh_host_engine.sh      (idempotent: a dockerd or sshd that runs is kept)
#
# The tests read the same defaults (tests/docker/ssh_host.py). dockerd starts under nsenter, not
# `ip netns exec`, for the reason given in start_gpu_host_engine.sh (the cgroup mounts).
set -euo pipefail
NS="${EVAL_SSH_HOST_NS:-vllm-eval-ssh-host}"
HOST_IP=10.232.0.1
ENGINE_IP=10.232.0.2
NAME=eval-ssh-host
STATE="${EVAL_SSH_HOST_DIR:-/var/lib/vllm-eval-ssh-host}"
RUN=/run/vllm-eval-ssh-host
KEYS="$STATE/ssh"
SOCKET="unix://$RUN/docker.sock"
BASE_IMAGE=vllm/vllm-openai:local-cpu-base
SSH_CONFIG=/root/.ssh/config
BEGIN="# >>> vllm-eval ssh host engine (tests/docker/start_ssh_host_engine.sh) >>>"
END="# <<< vllm-eval ssh host engine <<<"
inside() { docker -H "$SOCKET" "$@"; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if [ ! -x /usr/sbin/sshd ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null
fi

# The namespace and the veth pair between it and this machine.
ip netns list | grep -qw "$NS" || ip netns add "$NS"
if ! ip link show veth-evalsh0 >/dev/null 2>&1; then
    ip link add veth-evalsh0 type veth peer name veth-evalsh1
    ip link set veth-evalsh1 netns "$NS"
    ip addr add "$HOST_IP/30" dev veth-evalsh0
    ip link set veth-evalsh0 up
    ip -n "$NS" addr add "$ENGINE_IP/30" dev veth-evalsh1
    ip -n "$NS" link set veth-evalsh1 up
    ip -n "$NS" link set lo up
fi

# Keys: this machine's (the only one the server accepts) and the server's (the only one ssh trusts there).
mkdir -p "$KEYS" "$RUN/exec" "$STATE/data" && chmod 700 "$KEYS"
[ -f "$KEYS/id_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C "vllm-eval orchestrator" -f "$KEYS/id_ed25519"
[ -f "$KEYS/host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N "" -C "$NAME" -f "$KEYS/host_ed25519_key"
cp "$KEYS/id_ed25519.pub" "$KEYS/authorized_keys"
echo "$ENGINE_IP $(cut -d' ' -f1,2 "$KEYS/host_ed25519_key.pub")" >"$KEYS/known_hosts"
cat >"$KEYS/sshd_config" <<EOF
ListenAddress $ENGINE_IP
HostKey $KEYS/host_ed25519_key
PidFile $RUN/sshd.pid
AuthorizedKeysFile $KEYS/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
SetEnv DOCKER_HOST=$SOCKET
EOF

# The client side: a marked Host block, first in the file so that no broader block overrides it.
mkdir -p "$(dirname "$SSH_CONFIG")" && chmod 700 "$(dirname "$SSH_CONFIG")" && touch "$SSH_CONFIG"
rest=$(awk -v b="$BEGIN" -v e="$END" '$0 == b {skip = 1} !skip {print} $0 == e {skip = 0}' "$SSH_CONFIG")
{
    echo "$BEGIN"
    echo "Host $ENGINE_IP"
    echo "    User root"
    echo "    IdentityFile $KEYS/id_ed25519"
    echo "    IdentitiesOnly yes"
    echo "    UserKnownHostsFile $KEYS/known_hosts"
    echo "    StrictHostKeyChecking yes"
    echo "    BatchMode yes"
    echo "    ConnectTimeout 10"
    echo "    ServerAliveInterval 5"  # a host that drops off the network fails its run in ~15 s
    echo "    ServerAliveCountMax 3"
    echo "$END"
    [ -z "$rest" ] || printf '%s\n' "$rest"
} >"$SSH_CONFIG.new"
mv "$SSH_CONFIG.new" "$SSH_CONFIG" && chmod 600 "$SSH_CONFIG"

if inside info >/dev/null 2>&1; then
    echo "ssh host engine already answers on $SOCKET"
else
    # A dockerd ended without its shutdown (SIGKILL, as the fault test does) leaves its pid file.
    alive "$RUN/dockerd.pid" || rm -f "$RUN/dockerd.pid"
    LOG="$STATE/dockerd.log"
    nohup nsenter --net="/var/run/netns/$NS" unshare --uts sh -c "
        hostname $NAME
        exec dockerd --host $SOCKET --data-root $STATE/data --exec-root $RUN/exec \
            --pidfile $RUN/dockerd.pid --bip 172.31.232.1/24 --iptables=false --ip6tables=false" >>"$LOG" 2>&1 &
    for _ in $(seq 1 60); do
        inside info >/dev/null 2>&1 && break
        sleep 0.5
    done
    inside info >/dev/null 2>&1 || { echo "the ssh host engine did not answer within 30 s; its log:" >&2; tail -20 "$LOG" >&2; exit 1; }
    echo "ssh host engine started on $SOCKET (host name $NAME, log $LOG)"
fi

if alive "$RUN/sshd.pid"; then
    kill -HUP "$(cat "$RUN/sshd.pid")"  # re-reads its config and keys
else
    mkdir -p /run/sshd  # sshd's privilege separation folder
    nsenter --net="/var/run/netns/$NS" /usr/sbin/sshd -f "$KEYS/sshd_config" -E "$STATE/sshd.log"
fi
for _ in $(seq 1 20); do
    docker -H "ssh://root@$ENGINE_IP" info >/dev/null 2>&1 && break
    sleep 0.5
done
docker -H "ssh://root@$ENGINE_IP" info >/dev/null || {
    echo "docker -H ssh://root@$ENGINE_IP info fails; sshd's log:" >&2; tail -20 "$STATE/sshd.log" >&2; exit 1; }
echo "ssh host engine answers at ssh://root@$ENGINE_IP"

if ! inside image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    started=$(date +%s)
    docker save "$BASE_IMAGE" | inside load >/dev/null
    echo "copied $BASE_IMAGE onto the ssh host engine in $(( $(date +%s) - started )) s"
fi
