#!/usr/bin/env bash
# Installs PostgreSQL from Debian's packages, starts it, creates a database for the
# head-office tests and prints the URL as an `export` line:
#
#   eval "$(bash .ci/postgres.sh)"      # sets INTAKE_TEST_PG_URL
#
# Idempotent: a second run reuses the installed server, the role and the database.
# Everything but the export line goes to stderr.
set -euo pipefail

PGUSER_NAME=intake
PGDB_NAME=intake_test
PGPASS=intake-test-only
PORT=${INTAKE_PG_PORT:-5432}

log() { echo "postgres.sh: $*" >&2; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing postgresql (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
fi

VERSION=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$VERSION main"; then
  log "creating cluster $VERSION/main"
  pg_createcluster "$VERSION" main -p "$PORT" >&2
fi
if ! pg_lsclusters -h | awk -v v="$VERSION" '$1==v && $2=="main" {print $4}' | grep -qx online; then
  log "starting cluster $VERSION/main"
  pg_ctlcluster "$VERSION" main start >&2
fi
PORT=$(pg_lsclusters -h | awk -v v="$VERSION" '$1==v && $2=="main" {print $3}')

# Wait until it accepts connections (readiness polling, bounded).
for _ in $(seq 1 100); do
  if su postgres -c "pg_isready -q -h 127.0.0.1 -p $PORT"; then break; fi
  sleep 0.1
done
su postgres -c "pg_isready -h 127.0.0.1 -p $PORT" >&2

psql_su() { su postgres -c "psql -v ON_ERROR_STOP=1 -qAt -h /var/run/postgresql -p $PORT $*"; }
if [ "$(psql_su "-c \"SELECT 1 FROM pg_roles WHERE rolname='$PGUSER_NAME'\"")" != 1 ]; then
  psql_su "-c \"CREATE ROLE $PGUSER_NAME LOGIN PASSWORD '$PGPASS'\"" >&2
fi
if [ "$(psql_su "-c \"SELECT 1 FROM pg_database WHERE datname='$PGDB_NAME'\"")" != 1 ]; then
  psql_su "-c \"CREATE DATABASE $PGDB_NAME OWNER $PGUSER_NAME\"" >&2
fi

URL="postgres://$PGUSER_NAME:$PGPASS@127.0.0.1:$PORT/$PGDB_NAME"
log "ready: postgres://$PGUSER_NAME:****@127.0.0.1:$PORT/$PGDB_NAME"
echo "export INTAKE_TEST_PG_URL='$URL'"
