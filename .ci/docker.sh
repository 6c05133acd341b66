#!/usr/bin/env bash
# Ensure a Docker engine runs on this machine and is a single-node Swarm manager:
#   1. install Debian's docker.io if there is no dockerd (brings containerd, runc, iptables);
#   2. start dockerd in the background if `docker info` fails (no systemd here), log to
#      /var/log/dockerd-ci.log, wait until it answers;
#   3. `docker swarm init --advertise-addr 127.0.0.1` unless the node is already in a swarm.
# Idempotent: when the engine already runs as a swarm manager this only checks (~0.2 s).
#
# Env:
#   DOCKERD_STORAGE_DRIVER  force a storage driver (default: overlay2 when the kernel has
#                           overlayfs and /var/lib/docker is not itself on overlay/tmpfs, else vfs)
#   DOCKERD_EXTRA_ARGS      extra dockerd flags, e.g. "--iptables=false" (word-split)
#   DOCKER_WAIT             seconds to wait for the daemon (default 60)
set -euo pipefail

LOG=/var/log/dockerd-ci.log
WAIT="${DOCKER_WAIT:-60}"

log() { printf '[docker] %s\n' "$*"; }
die() { printf '[docker] ERROR: %s\n' "$*" >&2; exit 1; }

# --- install --------------------------------------------------------------------------------
if ! command -v dockerd >/dev/null 2>&1; then
    log "dockerd not found: installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -q -o DPkg::Lock::Timeout=300 update
    # --no-install-recommends: skips apparmor/criu/needrestart, which we do not need.
    apt-get -q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0 install --no-install-recommends docker.io
fi

# Prefer Debian's client, which matches the daemon's API exactly. Any newer client on PATH
# (e.g. /usr/local/bin/docker 28.x) also works: it negotiates down to the daemon's API 1.41.
if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; else DOCKER="$(command -v docker)" || die "no docker client"; fi
docker_ok() { timeout 10 "$DOCKER" info >/dev/null 2>&1; }

# --- daemon ---------------------------------------------------------------------------------
# PID 1 on this machine does not reap orphans, so a dead dockerd can linger as a zombie still
# named "dockerd" (and dockerd refuses to start while its pid file names a zombie).
live() {  # PID NAME: true if PID is a live (not zombie) process called NAME
    [ -n "$1" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] \
        && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}
log_tail() {  # show what the daemon said since our start marker (or the last lines)
    printf '[docker] last lines of %s:\n' "$LOG" >&2
    awk -v m="$1" 'index($0, m) {buf = ""} {buf = buf $0 "\n"} END {printf "%s", buf}' "$LOG" \
        | tail -n 40 >&2 || true
}

if docker_ok; then
    log "engine already running"
else
    pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
    started=""
    marker="=== .ci/docker.sh starting dockerd $(date -u +%FT%TZ) ==="
    if live "$pid" dockerd; then
        # A dockerd exists but does not answer yet (still starting): wait for it, don't start another.
        log "dockerd (pid $pid) is running but not answering yet; waiting"
        started="$pid"
    else
        [ -z "$pid" ] || { log "removing stale /var/run/docker.pid (pid $pid is gone)"; rm -f /var/run/docker.pid; }
        # Same for the containerd that dockerd manages: a zombie one makes dockerd wait for it
        # ("containerd is still running") and then fail with "timeout waiting for containerd".
        cpidf=/var/run/docker/containerd/containerd.pid
        cpid="$(cat "$cpidf" 2>/dev/null || true)"
        if [ -n "$cpid" ] && ! live "$cpid" containerd; then
            log "removing stale $cpidf (pid $cpid is gone)"; rm -f "$cpidf"
        fi
        driver="${DOCKERD_STORAGE_DRIVER:-}"
        if [ -z "$driver" ]; then
            mkdir -p /var/lib/docker
            # overlay2 needs kernel overlayfs and a backing fs that is not overlay/tmpfs itself
            # (true on this machine: ext4 root); vfs always works but copies every layer.
            if grep -qw overlay /proc/filesystems \
                && ! [[ "$(stat -f -c %T /var/lib/docker)" =~ ^(overlayfs|tmpfs)$ ]]; then
                driver=overlay2
            else
                driver=vfs
            fi
        fi
        # cgroups: this kernel runs the v1/v2 hybrid layout; dockerd 20.10 uses cgroupfs v1 by
        # itself. iptables: the nftables backend (Debian's default alternative) works here.
        # dockerd starts its own containerd (Debian's containerd service is not running).
        log "starting dockerd (storage driver $driver), log: $LOG"
        echo "$marker" >>"$LOG"
        # setsid: own session, so the daemon outlives this script and the CI step's process group.
        # shellcheck disable=SC2086  # DOCKERD_EXTRA_ARGS is a list of flags
        setsid nohup dockerd --storage-driver="$driver" ${DOCKERD_EXTRA_ARGS:-} \
            </dev/null >>"$LOG" 2>&1 &
        started=$!
    fi
    deadline=$((SECONDS + WAIT))
    until docker_ok; do
        if ! live "$started" dockerd; then
            printf '[docker] ERROR: dockerd exited during start-up\n' >&2
            log_tail "$marker"; exit 1
        fi
        if ((SECONDS >= deadline)); then
            printf '[docker] ERROR: docker info did not answer within %ss\n' "$WAIT" >&2
            log_tail "$marker"; exit 1
        fi
        sleep 1
    done
    log "engine up"
fi

# --- swarm ----------------------------------------------------------------------------------
state="$("$DOCKER" info --format '{{.Swarm.LocalNodeState}}')"
case "$state" in
    active)
        [ "$("$DOCKER" info --format '{{.Swarm.ControlAvailable}}')" = true ] \
            || die "node is in a swarm but not a manager; run 'docker swarm leave --force' and rerun"
        log "swarm already active (manager)"
        ;;
    inactive)
        log "initialising single-node swarm"
        "$DOCKER" swarm init --advertise-addr 127.0.0.1 >/dev/null
        ;;
    error)
        # A broken swarm state (e.g. a stale raft after a crash) cannot be repaired in place; a
        # CI machine has nothing in it worth keeping, so start over.
        log "swarm is in state 'error': leaving and re-initialising"
        "$DOCKER" swarm leave --force >/dev/null || true
        "$DOCKER" swarm init --advertise-addr 127.0.0.1 >/dev/null
        ;;
    *)
        die "unexpected swarm state '$state' (pending/locked?); see 'docker info' and $LOG"
        ;;
esac

log "ok: server $("$DOCKER" version --format '{{.Server.Version}}')," \
    "storage $("$DOCKER" info --format '{{.Driver}}'), cgroup v$("$DOCKER" info --format '{{.CgroupVersion}}')," \
    "swarm $("$DOCKER" info --format '{{.Swarm.LocalNodeState}}')"
