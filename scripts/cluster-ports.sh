#!/usr/bin/env bash
# scripts/cluster-ports.sh — before `make cluster-up`: check that the host
# ports the four nodes publish are free, so that a taken one stops the
# start before any container runs (instead of leaving a half-started
# cluster). A port this cluster's own container already publishes is fine
# (`up -d` leaves it as it is). Exit 0 when all are free, 1 otherwise.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

taken=()
for i in 1 2 3 4; do
	var=GOSSIPCHAIN_NODE${i}_PORT
	if [[ -n ${!var+set} && -z ${!var} ]]; then
		continue # empty: Docker picks a free port
	fi
	port=${!var:-500$i}
	if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
		echo "cluster-ports: $var=$port: want a TCP port number 1..65535 (or empty for one Docker picks)" >&2
		exit 1
	fi
	# Ours already? `compose port` names the published address of a running service.
	if ours=$(scripts/compose.sh port "node$i" 5000 2>/dev/null) && [[ $ours == *":$port" ]]; then
		continue
	fi
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		taken+=("$var=$port (node$i)")
	fi
done
if ((${#taken[@]})); then
	echo "cluster-ports: host port(s) already in use: ${taken[*]}" >&2
	echo "cluster-ports: nothing was started. Free them, or choose others, e.g.:" >&2
	echo "    GOSSIPCHAIN_NODE1_PORT=6001 GOSSIPCHAIN_NODE2_PORT=6002 GOSSIPCHAIN_NODE3_PORT=6003 GOSSIPCHAIN_NODE4_PORT=6004 make cluster-up" >&2
	echo "  (an empty value, GOSSIPCHAIN_NODE1_PORT=, lets Docker pick a free port)" >&2
	exit 1
fi
