#!/usr/bin/env bash
# Ensure the database services the test suite needs are installed, running and reachable:
#   PostgreSQL 127.0.0.1:5432  user postgres, trust auth (superuser)
#   MariaDB    127.0.0.1:3306  user root, empty password
#   Redis      127.0.0.1:6379
# plus the client tools / headers the tests use (pg_dump, mysqldump, sqlite3, libmariadb-dev, ...).
#
# Idempotent: when everything already runs this only checks and takes well under a second.
# Exits non-zero, with the relevant log tail, when a service cannot be brought up.
# The machine has no systemd, so services are started directly, not through service/systemctl.
#
# Env: SERVICES_WAIT (seconds to wait for each service, default 60).
set -euo pipefail

WAIT="${SERVICES_WAIT:-60}"
# Every probe below is bounded: something else squatting on a port must not hang CI.
export PGCONNECT_TIMEOUT=5

log() { printf '[services] %s\n' "$*"; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

# --- packages -------------------------------------------------------------------------------
# Install only what dpkg says is missing; `apt-get update` runs only if something is missing.
apt_ensure() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    log "installing missing packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # DPkg::Lock::Timeout: wait instead of failing if another apt run holds the lock.
    apt-get -q -o DPkg::Lock::Timeout=300 update
    apt-get -q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0 install --no-install-recommends "${missing[@]}"
}

# The servers themselves (and their trust/empty-password configuration) are part of the machine
# image; installing them from scratch here would not give that configuration, so fail clearly.
for bin in /usr/sbin/mariadbd /usr/bin/redis-server /usr/bin/pg_ctlcluster; do
    [ -x "$bin" ] || die "$bin not found: the CI machine image lacks a database server package"
done

# Which PostgreSQL cluster serves port 5432 ("15 main"); its major pins the client version so
# pg_dump/pg_restore match the server.
read -r PG_VER PG_CLUSTER < <(pg_lsclusters -h | awk '$3 == 5432 {print $1, $2; exit}') || true
[ -n "${PG_VER:-}" ] || die "no PostgreSQL cluster configured on port 5432 (pg_lsclusters shows: $(pg_lsclusters -h | tr '\n' ';'))"

apt_ensure libmariadb-dev pkg-config "postgresql-client-$PG_VER" postgresql-client mariadb-client sqlite3 redis-tools jq shellcheck
# PostGIS for the server on 5432, and the GDAL and GEOS libraries Django's GIS backend loads
# (tests/test_connection_setups.py runs the commands on django.contrib.gis.db.backends.postgis).
apt_ensure "postgresql-$PG_VER-postgis-3" gdal-bin libgeos-c1v5

# --- helpers --------------------------------------------------------------------------------
# wait_for NAME LOGFILE CMD...: retry CMD once a second up to $WAIT seconds; on timeout show log.
wait_for() {
    local name="$1" logfile="$2"; shift 2
    local deadline=$((SECONDS + WAIT))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            printf '[services] ERROR: %s did not answer within %ss (%s)\n' "$name" "$WAIT" "$*" >&2
            if [ -r "$logfile" ]; then
                printf '[services] last lines of %s:\n' "$logfile" >&2
                tail -n 30 "$logfile" >&2
            fi
            exit 1
        fi
        sleep 1
    done
}

pg_up()      { pg_isready -q -t 3 -h 127.0.0.1 -p 5432; }
# mariadb-admin ping exits 0 on "access denied" but 1 on "host not allowed" (error 1130, e.g.
# when root@127.0.0.1 does not exist): a server that refuses us has still answered, so it is up
# (the account is repaired below).
maria_up() {
    local out
    out="$(timeout 5 mariadb-admin --connect-timeout=2 -h127.0.0.1 -P3306 -uroot ping 2>&1)" && return 0
    grep -qE '\b(1045|1130)\b|Access denied|not allowed to connect' <<<"$out"
}
redis_up()   { [ "$(timeout 5 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

# --- PostgreSQL -----------------------------------------------------------------------------
# --skip-systemctl-redirect: no systemd here. pg_ctlcluster clears stale pid files itself; the
# start is retried because right after a crash/kill the old postmaster's children can hold the
# socket lock file for a moment ("lock file ... already exists").
pg_start_or_up() {
    pg_up && return 0
    pg_ctlcluster --skip-systemctl-redirect "$PG_VER" "$PG_CLUSTER" start
    return 1
}
PG_LOG="/var/log/postgresql/postgresql-$PG_VER-$PG_CLUSTER.log"
if pg_up; then
    log "postgresql $PG_VER/$PG_CLUSTER: already running"
else
    log "postgresql $PG_VER/$PG_CLUSTER: starting"
    wait_for postgresql "$PG_LOG" pg_start_or_up
    log "postgresql: up"
fi

# Tests connect over TCP as postgres without a password and create databases.
if ! timeout 10 psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
    # Repair: put trust rules for loopback first in pg_hba.conf (first match wins), reload.
    hba="/etc/postgresql/$PG_VER/$PG_CLUSTER/pg_hba.conf"
    log "postgresql: TCP login as postgres refused; adding loopback trust rules to $hba"
    if ! grep -q '^# django-cicd CI: loopback trust' "$hba"; then
        { printf '# django-cicd CI: loopback trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n'
          cat "$hba"; } > "$hba.new"
        chown --reference="$hba" "$hba.new"; chmod --reference="$hba" "$hba.new"
        mv "$hba.new" "$hba"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$PG_VER" "$PG_CLUSTER" reload
    sleep 1
fi
[ "$(psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select rolsuper from pg_roles where rolname = current_user' 2>&1)" = t ] \
    || die "postgresql: cannot log in as superuser postgres over 127.0.0.1 with trust auth"

# --- MariaDB --------------------------------------------------------------------------------
# my.cnf sets user=mysql, but say it explicitly so mariadbd never refuses to run as root.
# --oknodo: no-op while a mariadbd process exists (starting up, or still shutting down: in that
# case a later retry starts it once the old one is gone).
maria_start_or_up() {
    maria_up && return 0
    start-stop-daemon --start --quiet --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    return 1
}
MARIA_LOG="$(mariadbd --print-defaults 2>/dev/null | tr ' ' '\n' | sed -n 's/^--log[-_]error=//p' | tail -n1)"
MARIA_LOG="${MARIA_LOG:-/var/log/mysql/error.log}"
if maria_up; then
    log "mariadb: already running"
else
    log "mariadb: starting"
    # /run is a tmpfs: the socket/pid directory may be gone after a reboot.
    [ -d /run/mysqld ] || install -d -o mysql -g mysql -m 0755 /run/mysqld
    [ -d "$(dirname "$MARIA_LOG")" ] || install -d -o mysql -g mysql -m 0750 "$(dirname "$MARIA_LOG")"
    wait_for mariadb "$MARIA_LOG" maria_start_or_up
    log "mariadb: up"
fi

# Tests connect as root over TCP with an empty password. Debian's default root is unix_socket
# only (and with skip-name-resolve a TCP client from 127.0.0.1 needs a root@127.0.0.1 account).
if ! timeout 10 mariadb --connect-timeout=5 -h127.0.0.1 -P3306 -uroot -e 'select 1' >/dev/null 2>&1; then
    log "mariadb: TCP login as root with empty password refused; creating root@127.0.0.1/::1"
    # We are OS root, so the socket login uses unix_socket auth.
    mariadb --protocol=socket -uroot <<'SQL' || die "mariadb: cannot log in over the unix socket as root to repair the root account"
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
CREATE USER IF NOT EXISTS 'root'@'::1';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
ALTER USER 'root'@'::1' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'root'@'::1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
    mariadb -h127.0.0.1 -P3306 -uroot -e 'select 1' >/dev/null \
        || die "mariadb: root over TCP still refused after repair"
fi

# --- Redis ----------------------------------------------------------------------------------
REDIS_LOG=/var/log/redis/ci.log
if redis_up; then
    log "redis: already running"
else
    log "redis: starting"
    [ -d /var/lib/redis ] || install -d -m 0755 /var/lib/redis
    [ -d /var/log/redis ] || install -d -m 0755 /var/log/redis
    # No persistence: test data only, and nothing to load or fail on at start.
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile "$REDIS_LOG"
    wait_for redis "$REDIS_LOG" redis_up
    log "redis: up"
fi

log "ok: postgresql $(psql -h 127.0.0.1 -U postgres -Atqc 'show server_version' | cut -d' ' -f1)" \
    "(pg_dump $(pg_dump --version | awk '{print $3}')), mariadb $(mariadb -h127.0.0.1 -uroot -Nse 'select version()')," \
    "redis $(redis-cli -h 127.0.0.1 info server | sed -n 's/^redis_version:\([^\r]*\).*/\1/p')"
