#!/usr/bin/env bash
# Starts a local PostgreSQL 15 for the integration tests (see shared/services.md §2):
# the cluster listens on 127.0.0.1:5432, and role filestore (password filestore,
# CREATEDB) owns database filestore_test. Idempotent; run as root.
#
# Progress goes to stderr. On success stdout holds exactly one line,
#   export FILESTORE_TEST_POSTGRES=...
# so a caller can run: eval "$(bash .ci/services/postgres.sh)"
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PGVER_WANT=15

say() { echo "postgres.sh: $*" >&2; }

if ! command -v pg_ctlcluster >/dev/null || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
	say "installing postgresql with apt-get"
	apt-get update -qq >&2
	apt-get install -y -qq postgresql >&2
fi

if [ -x "/usr/lib/postgresql/$PGVER_WANT/bin/postgres" ]; then
	PGVER=$PGVER_WANT
else
	PGVER=$(ls /usr/lib/postgresql | sort -V | tail -1)
	say "PostgreSQL $PGVER_WANT not installed; using $PGVER"
fi

if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$PGVER main"; then
	say "creating cluster $PGVER/main"
	pg_createcluster "$PGVER" main >&2
fi

if pg_ctlcluster "$PGVER" main status >/dev/null 2>&1; then
	say "cluster $PGVER/main already running"
else
	say "starting cluster $PGVER/main"
	pg_ctlcluster "$PGVER" main start >&2
fi

for _ in $(seq 1 300); do
	pg_isready -q -h 127.0.0.1 -p 5432 && break
	sleep 0.1
done
pg_isready -h 127.0.0.1 -p 5432 >&2

psql_su() { su postgres -c "psql -v ON_ERROR_STOP=1 -qtAc \"$1\""; }

if [ "$(psql_su "SELECT 1 FROM pg_roles WHERE rolname='filestore'")" = 1 ]; then
	say "role filestore exists"
else
	say "creating role filestore"
	psql_su "CREATE ROLE filestore LOGIN PASSWORD 'filestore' CREATEDB" >&2
fi

if [ "$(psql_su "SELECT 1 FROM pg_database WHERE datname='filestore_test'")" = 1 ]; then
	say "database filestore_test exists"
else
	say "creating database filestore_test"
	su postgres -c "createdb -O filestore filestore_test" >&2
fi

DSN='postgres://filestore:filestore@127.0.0.1:5432/filestore_test?sslmode=disable'
if ! PGPASSWORD=filestore psql "$DSN" -qtAc 'SELECT 1' >/dev/null; then
	say "cannot connect as filestore over TCP"
	exit 1
fi
echo "export FILESTORE_TEST_POSTGRES=$DSN"
