#!/usr/bin/env bash
# Makes sure the PostgreSQL server the test suite's PostgreSQL catalog runs on answers: the one
# CALLVAULT_TEST_POSTGRES names, by default postgres://postgres@127.0.0.1:5432/postgres (trust
# auth on loopback, as Debian's postgresql package is set up on the project's machines). Starts the
# local cluster when it is installed but stopped; says exactly what is missing otherwise.
set -euo pipefail

if [ -n "${CALLVAULT_TEST_POSTGRES:-}" ]; then
  echo "PostgreSQL for the tests: CALLVAULT_TEST_POSTGRES (not checked here)"
  exit 0
fi

answers() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }

if ! answers; then
  clusters=$(ls /etc/postgresql 2>/dev/null | sort -V || true)
  if [ -n "$clusters" ] && command -v pg_ctlcluster >/dev/null 2>&1; then
    version=$(echo "$clusters" | tail -n 1)
    echo "PostgreSQL does not answer on 127.0.0.1:5432; starting cluster $version/main"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do answers && break; sleep 1; done
  fi
fi

if ! answers; then
  echo "PostgreSQL is missing: nothing answers on 127.0.0.1:5432 and no local cluster could be started." >&2
  echo "The tests run the catalog on PostgreSQL too (npm test, npm run test:postgres). Install and start it" >&2
  echo "(Debian: apt-get install postgresql; pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start)" >&2
  echo "with trust auth for user postgres on 127.0.0.1, or point CALLVAULT_TEST_POSTGRES at a server where the user may CREATE DATABASE." >&2
  exit 1
fi

if command -v psql >/dev/null 2>&1 && ! psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -w -Atqc 'select 1' >/dev/null 2>&1; then
  echo "PostgreSQL answers on 127.0.0.1:5432, but user postgres cannot sign in without a password: the tests need trust" >&2
  echo "auth for it on 127.0.0.1, or CALLVAULT_TEST_POSTGRES=postgres://USER:PASSWORD@HOST:PORT/postgres (a user who may CREATE DATABASE)." >&2
  exit 1
fi
echo "PostgreSQL answers on 127.0.0.1:5432 ($(psql -h 127.0.0.1 -U postgres -d postgres -w -Atqc 'show server_version' 2>/dev/null || echo 'version unknown'))"
