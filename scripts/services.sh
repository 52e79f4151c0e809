#!/usr/bin/env bash
# Installs and starts what aside's tests need when it is missing, from
# Debian's packages:
#   - redis-server: the tests start their own processes on free ports and
#     never use a shared Redis;
#   - PostgreSQL on 127.0.0.1:5432: the tests create a database of their own
#     in it and drop it afterwards (ASIDE_TEST_POSTGRES_URL, default
#     postgres://postgres:postgres@127.0.0.1:5432/test);
#   - Chromium, which the dashboard's test drives through playwright-core;
#   - Prometheus and promtool: the tests check and unit-test the alert
#     rules, and start their own prometheus on a free port (never a
#     system service);
#   - Node.js with the npm packages of the tests that run in it.
# A service that already answers is left as it is.
set -euo pipefail

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

as_postgres() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

pg_answers() {
	(exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
}

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
if ! pg_answers && ! ls -d /etc/postgresql/*/main >/dev/null 2>&1; then
	missing+=(postgresql)
fi
if ((${#missing[@]})); then
	echo "services: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	as_root apt-get update -qq
	as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! pg_answers; then
	version=$(ls /etc/postgresql | sort -V | tail -n 1)
	echo "services: starting PostgreSQL $version" >&2
	as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
	for _ in $(seq 1 60); do
		pg_answers && break
		sleep 0.5
	done
	pg_answers || { echo "services: PostgreSQL did not start" >&2; exit 1; }
	# A cluster this script started may be fresh: give the tests the role's
	# password and the database they connect to.
	as_postgres psql -qc "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
	as_postgres createdb test 2>/dev/null || true
fi

# Node.js and the stock @trpc/client, for the test that calls the
# monitoring procedures through it (cmd/aside-server/testdata/trpc-client).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "services: installing nodejs npm" >&2
	export DEBIAN_FRONTEND=noninteractive
	as_root apt-get update -qq
	as_root apt-get install -y -qq --no-install-recommends nodejs npm
fi
client="$(dirname "$0")/../cmd/aside-server/testdata/trpc-client"
if [ ! -d "$client/node_modules/@trpc/client" ]; then
	echo "services: installing @trpc/client for the tRPC wire-format test" >&2
	(cd "$client" && npm install --no-audit --no-fund --silent >/dev/null)
fi
# playwright-core, at the version package-lock.json pins, for the
# dashboard's test in Chromium; it downloads no browser of its own.
dashboard="$(dirname "$0")/../cmd/aside-server/testdata/dashboard"
if [ ! -d "$dashboard/node_modules/playwright-core" ]; then
	echo "services: installing playwright-core for the dashboard's browser test" >&2
	(cd "$dashboard" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent >/dev/null)
fi
