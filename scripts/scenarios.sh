#!/usr/bin/env bash
# The measurement scenarios of docs/PERFORMANCE.md, each one command:
#
#   scripts/scenarios.sh table      the guide's table: GET user, job, jobs list; uncached, memstore,
#                                   Redis; PostgreSQL on loopback and behind a 5 ms delay; baselines
#   scripts/scenarios.sh zipf       hit rate and database queries per 1,000 requests, Zipf keys, 5% writes
#   scripts/scenarios.sh jobs       job lists (limit 20) of Zipf users with 5% job progress updates: how a
#                                   change of a job costs the lists that show it
#   scripts/scenarios.sh stampede   1,000 concurrent cold reads of one key over 4 servers sharing Redis
#   scripts/scenarios.sh delete     pattern delete of 100,000 of 1,000,000 keys, probed, beside KEYS + DEL
#   scripts/scenarios.sh warm       warm-up of 100 users + 200 jobs, and of 100,000 entries
#   scripts/scenarios.sh wrk        the cached GET user and the baselines once more, driven by wrk
#                                   (a C load generator, lighter than the Go one): a cross-check
#   scripts/scenarios.sh chaos      two servers on PostgreSQL and one Redis (a master and a replica) through a pause,
#                                   an empty restart, a snapshot restart, a failover that lost writes and a server
#                                   killed -9 mid-load: failed requests, stale reads, latency per phase (PHASE, 5s)
#   scripts/scenarios.sh all        all of them but chaos, then the report and the chart
#
# Knobs (environment): SERVER (bin/aside-server), DURATION (10s), WARMUP (2s), CONCURRENCY (64), ROUNDS (3, of wrk), DELAY (5ms, the simulated
# network delay of the remote-like database), OUT (bench/results).
# It starts its own redis-server and servers on free ports, and creates (and drops) its own
# PostgreSQL database on ASIDE_TEST_POSTGRES_URL's server; the load generator, the servers, Redis
# and PostgreSQL share the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER="${SERVER:-bin/aside-server}" # another build to compare with, such as an older commit's
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
CONCURRENCY="${CONCURRENCY:-64}"
DELAY="${DELAY:-5ms}"
OUT="${OUT:-bench/results}"
PG_ADMIN="${ASIDE_TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/test?sslmode=disable}"
TOKEN="bench-admin-token"

mkdir -p "$OUT" bin
go build -o bin/aside ./cmd/aside
go build -o bin/aside-server ./cmd/aside-server

pids=()
cleanup() {
	for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -n "${PGDB:-}" ]; then psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null 2>&1 || true; fi
	if [ -n "${RDIR:-}" ]; then rm -rf "$RDIR"; fi
}
trap cleanup EXIT

free_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 20000))
		if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
	done
	return 1
}

wait_http() { # url
	for _ in $(seq 1 300); do
		curl -sf "$1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "scenarios: $1 never answered" >&2
	return 1
}

start_redis() {
	RPORT=$(free_port)
	RDIR=$(mktemp -d)
	redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$RDIR" --logfile "$RDIR/redis.log" &
	pids+=($!)
	for _ in $(seq 1 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
	REDIS_URL="redis://127.0.0.1:$RPORT/0"
}

start_pg() {
	PGDB="aside_bench_$$"
	psql -q "$PG_ADMIN" -c "CREATE DATABASE $PGDB" >/dev/null
	PG_URL=$(echo "$PG_ADMIN" | sed -E "s#/[^/?]+(\?|$)#/$PGDB\1#")
}

start_proxy() { # delay
	PROXY_PORT=$(free_port)
	local target
	target=$(echo "$PG_ADMIN" | sed -E 's#^[a-z]+://([^@]*@)?([^/?]+).*#\2#')
	bin/aside proxy -listen "127.0.0.1:$PROXY_PORT" -target "$target" -delay "$1" 2>/dev/null &
	pids+=($!)
	sleep 0.2
	PG_DELAYED_URL=$(echo "$PG_URL" | sed -E "s#@[^/]+/#@127.0.0.1:$PROXY_PORT/#")
}

# start_server NAME PORT VAR=VALUE...: an aside-server with that environment.
start_server() {
	local name=$1 port=$2
	shift 2
	# ASIDE_AUTH=off: the load generator's writes carry no session.
	env ADDR="127.0.0.1:$port" ASIDE_ADMIN_TOKEN="$TOKEN" ASIDE_LOG_LEVEL=warn ASIDE_AUTH=off "$@" "$SERVER" 2>"$OUT/$name.log" &
	SERVER_PID=$!
	pids+=("$SERVER_PID")
	wait_http "http://127.0.0.1:$port/healthz"
}

stop_server() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }

bench() { # group label url path keys [more aside bench flags]
	local group=$1 label=$2 url=$3 path=$4 keys=$5
	shift 5
	local file
	file="$OUT/$(echo "$group-$label" | tr -c 'a-zA-Z0-9\n' '-' | tr -s '-').json"
	bin/aside bench -quiet -url "$url" -path "$path" -keys "$keys" -duration "$DURATION" -warmup "$WARMUP" \
		-concurrency "$CONCURRENCY" -group "$group" -label "$label" -json "$file" "$@"
}

scenario_table() {
	start_redis
	start_pg
	start_proxy "$DELAY"
	local port
	port=$(free_port)
	# Fill the database once with the demo data (1,000 users, 10,000 jobs).
	start_server seed "$port" DATABASE_URL="$PG_URL" ASIDE_CACHE=off
	stop_server
	for db in loopback delayed; do
		local url="$PG_URL" group="PostgreSQL on loopback"
		if [ "$db" = delayed ]; then url="$PG_DELAYED_URL"; group="PostgreSQL behind a $DELAY delay"; fi
		for cache in uncached memstore redis redis+near; do
			local env=(DATABASE_URL="$url" ASIDE_SEED=off)
			case $cache in
			uncached) env+=(ASIDE_CACHE=off) ;;
			redis) env+=(REDIS_URL="$REDIS_URL" ASIDE_KEY_PREFIX="bench-$db:" ASIDE_NEAR_CACHE=off) ;;
			redis+near) env+=(REDIS_URL="$REDIS_URL" ASIDE_KEY_PREFIX="bench-near-$db:" ASIDE_NEAR_CACHE=on) ;;
			esac
			start_server "table-$db-$cache" "$port" "${env[@]}"
			local base="http://127.0.0.1:$port"
			bench "$group" "GET user, $cache" "$base" "/api/users/{id}" 1000
			bench "$group" "GET job, $cache" "$base" "/api/jobs/{id}" 10000
			bench "$group" "GET jobs list (50), $cache" "$base" "/api/users/{id}/jobs?limit=50" 1000
			if [ "$db" = loopback ] && [ "$cache" != uncached ]; then
				bench "p99 at 1,000 req/s" "GET user, $cache" "$base" "/api/users/{id}" 1000 -rate 1000
			fi
			stop_server
		done
	done
	local bport
	bport=$(free_port)
	bin/aside baseline -addr "127.0.0.1:$bport" -redis "$REDIS_URL" -keys 1000 2>/dev/null &
	pids+=($!)
	wait_http "http://127.0.0.1:$bport/static"
	bench "Baselines" "net/http, static JSON" "http://127.0.0.1:$bport" "/static" 1
	bench "Baselines" "net/http, one rueidis GET" "http://127.0.0.1:$bport" "/redis/{id}" 1000
}

scenario_zipf() {
	[ -n "${REDIS_URL:-}" ] || start_redis
	[ -n "${PGDB:-}" ] || start_pg
	local port
	port=$(free_port)
	for cache in memstore redis redis+near; do
		local env=(DATABASE_URL="$PG_URL")
		[ "$cache" = redis ] && env+=(REDIS_URL="$REDIS_URL" ASIDE_KEY_PREFIX="zipf:" ASIDE_NEAR_CACHE=off)
		[ "$cache" = redis+near ] && env+=(REDIS_URL="$REDIS_URL" ASIDE_KEY_PREFIX="zipf-near:" ASIDE_NEAR_CACHE=on)
		start_server "zipf-$cache" "$port" "${env[@]}"
		bench "Zipf keys, 5% writes" "GET+PATCH user, $cache" "http://127.0.0.1:$port" "/api/users/{id}" 1000 -zipf -writes 0.05
		stop_server
	done
}

scenario_jobs() {
	[ -n "${REDIS_URL:-}" ] || start_redis
	[ -n "${PGDB:-}" ] || start_pg
	local port writable
	port=$(free_port)
	start_server "jobs-seed" "$port" DATABASE_URL="$PG_URL" ASIDE_CACHE=off
	stop_server
	# The jobs a progress update may change: those not finished.
	writable=$(psql -At "$PG_URL" -c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM jobs WHERE status IN ('queued', 'running') ORDER BY id LIMIT 1000) j")
	for cache in memstore redis redis+near; do
		local env=(DATABASE_URL="$PG_URL" ASIDE_SEED=off)
		[ "$cache" = redis ] && env+=(REDIS_URL="$REDIS_URL" ASIDE_KEY_PREFIX="jobs:" ASIDE_NEAR_CACHE=off)
		[ "$cache" = redis+near ] && env+=(REDIS_URL="$REDIS_URL" ASIDE_KEY_PREFIX="jobs-near:" ASIDE_NEAR_CACHE=on)
		start_server "jobs-$cache" "$port" "${env[@]}"
		local before after
		sleep 1
		before=$(transactions)
		bench "Job lists, Zipf users, 5% job updates" "GET jobs list (20) + PATCH job, $cache" "http://127.0.0.1:$port" \
			"/api/users/{id}/jobs?limit=20" 1000 -zipf -writes 0.05 -write-path "/api/jobs/{id}" -write-body '{"progress":{n}}' -write-keys "$writable"
		sleep 1 # the statistics are flushed within a second
		after=$(transactions)
		# A batch load of many ids is one query: count the database's own
		# transactions (each query outside a transaction is one), warm-up included.
		echo "  database transactions: $((after - before)) during the warm-up and the run"
		stop_server
	done
}

scenario_stampede() {
	[ -n "${REDIS_URL:-}" ] || start_redis
	[ -n "${PGDB:-}" ] || start_pg
	local urls="" port
	for i in 1 2 3 4; do
		port=$(free_port)
		start_server "stampede-$i" "$port" DATABASE_URL="$PG_URL" REDIS_URL="$REDIS_URL" ASIDE_KEY_PREFIX="stampede:"
		urls="$urls,http://127.0.0.1:$port"
	done
	bin/aside stampede -urls "${urls#,}" -path /api/users/7 -pattern "user:7" -requests 1000 -token "$TOKEN" -json "$OUT/x-stampede.json"
}

scenario_delete() { bin/aside delete -keys 1000000 -delete 100000 -json "$OUT/x-delete.json"; }

# scenario_wrk drives the cached GET user (memstore, Redis, Redis with the
# near cache; PostgreSQL on loopback) and the two baselines with wrk, in
# alternating rounds so that drift of the machine hits them all alike, and
# prints the median of the rounds, the ratios of the targets, and the
# Redis commands per request of the near cache's runs.
scenario_wrk() {
	if ! command -v wrk >/dev/null; then
		[ "$(id -u)" = 0 ] || { echo "scenarios: wrk is missing: apt-get install wrk" >&2; return 1; }
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
	fi
	start_redis
	start_pg
	local bport mport rport nport
	bport=$(free_port)
	bin/aside baseline -addr "127.0.0.1:$bport" -redis "$REDIS_URL" -keys 1000 2>/dev/null &
	pids+=($!)
	wait_http "http://127.0.0.1:$bport/static"
	mport=$(free_port)
	start_server wrk-memstore "$mport" DATABASE_URL="$PG_URL"
	rport=$(free_port)
	start_server wrk-redis "$rport" DATABASE_URL="$PG_URL" ASIDE_SEED=off REDIS_URL="$REDIS_URL" ASIDE_KEY_PREFIX="wrk:" ASIDE_NEAR_CACHE=off
	nport=$(free_port)
	start_server wrk-near "$nport" DATABASE_URL="$PG_URL" ASIDE_SEED=off REDIS_URL="$REDIS_URL" ASIDE_KEY_PREFIX="wrk-near:" ASIDE_NEAR_CACHE=on
	local lua="$RDIR/ids.lua"
	cat >"$lua" <<'LUA'
local path = os.getenv("WRK_PATH")
request = function() return wrk.format("GET", (path:gsub("{id}", tostring(math.random(1, 1000))))) end
LUA
	local names=("net/http, static JSON" "net/http, one rueidis GET" "GET user, memstore" "GET user, redis" "GET user, redis+near")
	local urls=("http://127.0.0.1:$bport" "http://127.0.0.1:$bport" "http://127.0.0.1:$mport" "http://127.0.0.1:$rport" "http://127.0.0.1:$nport")
	local paths=("/static" "/redis/{id}" "/api/users/{id}" "/api/users/{id}" "/api/users/{id}")
	local rounds=${ROUNDS:-3} results="$RDIR/wrk.tsv" commands=0 requests=0
	: >"$results"
	for i in 0 1 2 3 4; do WRK_PATH="${paths[$i]}" wrk -t1 -c"$CONCURRENCY" -d"$WARMUP" -s "$lua" "${urls[$i]}" >/dev/null; done
	for r in $(seq 1 "$rounds"); do
		for i in 0 1 2 3 4; do
			local out rps before
			before=$(redis_commands)
			out=$(WRK_PATH="${paths[$i]}" wrk -t1 -c"$CONCURRENCY" -d"$DURATION" -s "$lua" "${urls[$i]}")
			rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
			if [ "$i" = 4 ]; then
				commands=$((commands + $(redis_commands) - before))
				requests=$((requests + $(echo "$out" | awk '/requests in/ {print $1}')))
			fi
			printf '%s\t%s\n' "$i" "$rps" >>"$results"
			echo "round $r: ${names[$i]}: $rps req/s" >&2
		done
	done
	local med=()
	for i in 0 1 2 3 4; do
		med[$i]=$(awk -F'\t' -v i="$i" '$1 == i {print $2}' "$results" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
	done
	echo
	echo "wrk -t1 -c$CONCURRENCY, $DURATION a run, median of $rounds rounds"
	echo
	echo "| run | req/s |"
	echo "|---|---|"
	for i in 0 1 2 3 4; do printf '| %s | %.0f |\n' "${names[$i]}" "${med[$i]}"; done
	echo
	awk -v s="${med[0]}" -v g="${med[1]}" -v m="${med[2]}" -v r="${med[3]}" -v n="${med[4]}" -v c="$commands" -v q="$requests" 'BEGIN {
		printf "GET user on memstore / static JSON:      %.2fx (target 0.7x)\n", m / s
		printf "GET user on Redis / one rueidis GET:     %.2fx (target 0.8x)\n", r / g
		printf "GET user on Redis, near cache / memstore: %.2fx (target 0.95x)\n", n / m
		printf "Redis commands per request, near cache:  %.4f (target under 0.05; every command Redis ran meanwhile)\n", c / q
	}'
}

# transactions is how many transactions the scenarios' database has committed.
transactions() { psql -At "$PG_URL" -c "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"; }

# redis_commands is how many commands the scenarios' Redis has run.
redis_commands() { redis-cli -u "$REDIS_URL" INFO stats | awk -F: '/^total_commands_processed/ {print $2+0}'; }

scenario_warm() { bin/aside warm -entries 100000 -json "$OUT/x-warm.json"; }

scenario_chaos() {
	bin/aside chaos -server bin/aside-server -postgres "$PG_ADMIN" -phase "${PHASE:-5s}" -check -json "$OUT/chaos.json"
}

case "${1:-}" in
table) scenario_table ;;
zipf) scenario_zipf ;;
jobs) scenario_jobs ;;
stampede) scenario_stampede ;;
delete) scenario_delete ;;
warm) scenario_warm ;;
wrk) scenario_wrk ;;
chaos) scenario_chaos ;;
all)
	rm -f "$OUT"/*.json
	scenario_table
	scenario_zipf
	scenario_jobs
	scenario_stampede
	scenario_delete
	scenario_warm
	bin/aside report -in "$OUT" -png docs/latency.png
	;;
*)
	sed -n '2,21p' "$0" >&2
	exit 2
	;;
esac
