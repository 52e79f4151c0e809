#!/usr/bin/env bash
# Installs the programs aside's tests need when they are missing, from
# Debian's packages. The tests start their own redis-server processes on
# free ports; they never use a shared Redis.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)

if ((${#missing[@]})); then
	echo "services: installing ${missing[*]}" >&2
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
