#!/usr/bin/env bash
# Make local Docker images for the tests without any registry (the machine cannot reach one).
#
#   base-image.sh [--rebuild] [TAG]
#       TAG (default django-cicd/debian-python:bookworm): a Debian bookworm minbase rootfs with
#       python3, python3-venv, python3-pip and ca-certificates, made with debootstrap and
#       `docker import`ed. The rootfs tarball is cached in /var/cache/django-cicd/, so a rerun
#       on a machine that lost the image only re-imports it. Nothing is done if TAG exists,
#       unless --rebuild (which also rebuilds the tarball).
#
#   base-image.sh --tiny NAME:TAG [--content TEXT] [--force]
#       A ~2 MB image holding a static busybox (so `sh`, `sleep`, `cat`, `httpd` ... work) and
#       /tag containing NAME:TAG (plus TEXT if given): distinct tags give distinct layers and
#       digests, cheaply. Its default command sleeps forever and exits at once on SIGTERM, so
#       containers/services stop fast. Nothing is done if the image exists, unless --force.
#
# Prints the image ID on the last line of stdout. Needs a running engine (runs docker.sh if not).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE=/var/cache/django-cicd
DEFAULT_TAG=django-cicd/debian-python:bookworm
SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES=python3,python3-venv,python3-pip,ca-certificates

log() { printf '[base-image] %s\n' "$*" >&2; }
die() { printf '[base-image] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }

apt_ensure() {  # install packages dpkg says are missing; `apt-get update` only if needed
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    log "installing missing packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -q -o DPkg::Lock::Timeout=300 update >&2
    apt-get -q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0 install --no-install-recommends "${missing[@]}" >&2
}

# --- arguments ------------------------------------------------------------------------------
tiny="" content="" force=0 tag=""
while [ $# -gt 0 ]; do
    case "$1" in
        --tiny) [ $# -ge 2 ] || usage; tiny="$2"; shift 2 ;;
        --content) [ $# -ge 2 ] || usage; content="$2"; shift 2 ;;
        --force|--rebuild) force=1; shift ;;
        -h|--help) usage ;;
        -*) die "unknown option $1" ;;
        *) [ -z "$tag" ] || usage; tag="$1"; shift ;;
    esac
done
if [ -n "$tiny" ]; then
    [ -z "$tag" ] || die "--tiny takes the tag as its argument; got an extra '$tag'"
    tag="$tiny"
fi
tag="${tag:-$DEFAULT_TAG}"
# `docker import` defaults a missing tag to :latest; make that explicit so checks match.
[[ "${tag##*/}" == *:* ]] || tag="$tag:latest"

# Debian's client matches the daemon; a newer client on PATH negotiates down and works too.
if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; else DOCKER="$(command -v docker || true)"; fi
if [ -z "$DOCKER" ] || ! timeout 10 "$DOCKER" info >/dev/null 2>&1; then
    log "docker engine not answering: running $HERE/docker.sh"
    bash "$HERE/docker.sh" >&2
    DOCKER=/usr/bin/docker
fi

image_id() { "$DOCKER" image inspect --format '{{.Id}}' "$1" 2>/dev/null; }

if [ "$force" = 0 ] && id="$(image_id "$tag")"; then
    log "$tag already exists"
    echo "$id"
    exit 0
fi

# --- tiny image -----------------------------------------------------------------------------
if [ -n "$tiny" ]; then
    apt_ensure busybox-static
    bb=/bin/busybox
    # The image has no libc: make sure this busybox is the static one.
    if ldd "$bb" >/dev/null 2>&1; then die "$bb is dynamically linked (package busybox, not busybox-static?)"; fi
    dir="$(mktemp -d)"
    trap 'rm -rf "$dir"' EXIT
    mkdir -p "$dir/bin" "$dir/tmp" "$dir/etc"
    chmod 1777 "$dir/tmp"
    cp "$bb" "$dir/bin/busybox"
    for applet in $("$bb" --list); do
        [ -e "$dir/bin/$applet" ] || ln -s busybox "$dir/bin/$applet"
    done
    echo 'root:x:0:0:root:/:/bin/sh' > "$dir/etc/passwd"
    echo 'root:x:0:' > "$dir/etc/group"
    printf '%s\n' "$tag" > "$dir/tag"
    [ -z "$content" ] || printf '%s\n' "$content" >> "$dir/tag"
    # Deterministic tar (sorted, fixed mtime/owner): same tag+content => same layer digest.
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir" -cf - . \
        | "$DOCKER" import \
            --change 'ENV PATH=/bin' \
            --change "LABEL org.django-cicd.tiny=$tag" \
            --change 'CMD ["/bin/sh", "-c", "trap \"exit 0\" TERM INT; sleep 2147483647 & wait"]' \
            --message "django-cicd tiny test image $tag" \
            - "$tag" >/dev/null
    log "imported tiny image $tag"
    image_id "$tag"
    exit 0
fi

# --- Debian base image ----------------------------------------------------------------------
mkdir -p "$CACHE"
# Only one build at a time (parallel test workers or CI jobs could all call this).
exec 9>"$CACHE/.base-image.lock"
flock -w 1800 9 || die "timed out waiting for another base-image build ($CACHE/.base-image.lock)"
if [ "$force" = 0 ] && id="$(image_id "$tag")"; then
    log "$tag was imported by another run meanwhile"
    echo "$id"
    exit 0
fi

# The cache key covers everything that changes the rootfs, so editing the package list rebuilds.
key="$(printf '%s|%s|%s|v1' "$SUITE" "$MIRROR" "$PACKAGES" | sha256sum | cut -c1-12)"
tarball="$CACHE/debian-$SUITE-minbase-python-$key.tar"

if [ "$force" = 1 ] || [ ! -s "$tarball" ]; then
    apt_ensure debootstrap
    root="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
    trap 'rm -rf "$root" "$tarball.tmp"' EXIT
    log "debootstrap --variant=minbase $SUITE (+$PACKAGES) from $MIRROR; takes about a minute"
    start=$SECONDS
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" \
        > "$CACHE/debootstrap.log" 2>&1 \
        || { tail -n 40 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (full log: $CACHE/debootstrap.log)"; }
    log "debootstrap done in $((SECONDS - start))s"
    # Like the official debian images: no package caches/lists, no host resolv.conf/hostname
    # (docker bind-mounts its own), updates + security sources, services never start in builds.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
        "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/tmp/* "$root"/var/tmp/*
    rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
    cat > "$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
EOF
    printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    tar --numeric-owner --xattrs -C "$root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
    trap - EXIT
    log "cached rootfs tarball $tarball ($(du -h "$tarball" | cut -f1))"
else
    log "using cached rootfs tarball $tarball"
fi

"$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --message "django-cicd debian $SUITE minbase + python3 ($(basename "$tarball"))" \
    "$tarball" "$tag" >/dev/null
log "imported $tag ($("$DOCKER" image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
image_id "$tag"
