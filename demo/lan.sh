#!/usr/bin/env bash
# demo/lan.sh — a simulated LAN on one Linux machine: N network namespaces
# joined by a bridge, one gossipchain node in each, none given an address.
# The nodes find each other by mDNS; a block mined on node 1 must appear on
# every node. Exit status 0 when it does, 1 when it does not.
#
#     sudo GOSSIPCHAIN_BIN=bin/gossipchain demo/lan.sh      # or: make lan-demo
#
# Needs root (network namespaces), bash, iproute2 (ip) and coreutils
# (timeout). The HTTP API of each node listens on 127.0.0.1:5000 inside its
# own namespace and is asked with bash's /dev/tcp, so curl is not needed.
#
# Everything lives in namespaces this script creates — the bridge too sits in
# a "switch" namespace of its own — with private addresses 10.99.0.0/24 that
# exist only there: the host's interfaces, routes and firewall are not
# touched and no packet leaves the machine. Everything created (namespaces
# and with them the bridge and veth pairs, node processes, the temporary
# directory) is removed on exit, also on Ctrl-C, SIGTERM or a failure.
#
# Environment:
#   GOSSIPCHAIN_BIN  the binary (default: bin/gossipchain, built with go if missing)
#   LAN_NODES        number of nodes, 2..50 (default 3)
#   LAN_TIMEOUT      seconds allowed for discovery and for the block to spread (default 60)
#   LAN_DIFFICULTY   the network's difficulty in bits (default 16)
#   LAN_PREFIX       prefix of the names created (default gclan<pid>)
#   LAN_HOLD=1       after the check, keep the LAN running until Ctrl-C
set -Eeuo pipefail

N=${LAN_NODES:-3}
TIMEOUT=${LAN_TIMEOUT:-60}
DIFFICULTY=${LAN_DIFFICULTY:-16}
PREFIX=${LAN_PREFIX:-gclan$$}
HOLD=${LAN_HOLD:-0}
SUBNET=10.99.0
HTTP_PORT=5000

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '[lan %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() {
	printf '[lan %(%H:%M:%S)T] FAIL: %s\n' -1 "$*" >&2
	exit 1
}

[[ $N =~ ^[0-9]+$ ]] && ((N >= 2 && N <= 50)) || die "LAN_NODES=$N: want 2..50"
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "LAN_TIMEOUT=$TIMEOUT: want seconds"
[[ $PREFIX =~ ^[A-Za-z0-9_.-]+$ ]] || die "LAN_PREFIX=$PREFIX: letters, digits, _ . - only"
((EUID == 0)) || die "needs root for network namespaces: sudo GOSSIPCHAIN_BIN=\$PWD/bin/gossipchain $0"
command -v ip >/dev/null || die "needs ip (apt-get install iproute2)"
command -v timeout >/dev/null || die "needs timeout (coreutils)"

# --- what we create, so cleanup removes exactly that -----------------------
SWITCH="$PREFIX-sw"
NAMESPACES=() # created namespaces, switch first
PIDS=()       # node processes
WORKDIR=""
STATUS=1 # 0 once the check passed
INTERRUPTED=0
CLEANED=0

MAIN_PID=$BASHPID
cleanup() {
	# A child forked for a background node, killed before it exec'd the
	# binary, would run these traps too: only the script itself cleans up.
	((BASHPID == MAIN_PID)) || exit 1
	((CLEANED)) && return
	CLEANED=1
	# Cleanup's commands may fail on purpose (kill of a node already gone,
	# wait for a killed one): that is no failure of the demo, so the ERR
	# trap goes first.
	trap - EXIT INT TERM ERR
	set +e
	if ((STATUS != 0 && !INTERRUPTED)) && [[ -n $WORKDIR ]]; then
		for ((i = 1; i <= ${#PIDS[@]}; i++)); do
			[[ -f $WORKDIR/node$i.log ]] || continue
			echo "----- last lines of node $i's log -----" >&2
			tail -n 15 "$WORKDIR/node$i.log" >&2
		done
	fi
	log "cleaning up: ${#PIDS[@]} node(s), ${#NAMESPACES[@]} namespace(s), ${WORKDIR:-no temp dir}"
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	local deadline=$((SECONDS + 10))
	for pid in "${PIDS[@]}"; do
		while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	# Deleting a namespace deletes its interfaces: the veth pairs and the
	# bridge (which lives in the switch namespace) go with them.
	for ns in "${NAMESPACES[@]}"; do ip netns delete "$ns" 2>/dev/null; done
	[[ -n $WORKDIR ]] && rm -rf -- "$WORKDIR"
	log "cleaned up"
}
on_signal() {
	((BASHPID == MAIN_PID)) || exit 1
	trap - ERR
	log "interrupted"
	INTERRUPTED=1
	cleanup
	exit 130
}
trap cleanup EXIT
trap on_signal INT TERM
# A closed stdout (demo/lan.sh | head) must not kill the script before it
# cleans up: a failed write then ends it through set -e and the EXIT trap.
trap '' PIPE
# A command that fails outside a condition ends the script (set -e): say
# which. Not once the check passed (STATUS=0), nor during cleanup or after
# Ctrl-C, where the traps above are in charge and a failing kill, wait or
# interrupted sleep is expected.
on_err() {
	local code=$? line=$1 cmd=$2
	((BASHPID == MAIN_PID && STATUS != 0 && !INTERRUPTED && !CLEANED)) || return 0
	printf '[lan %(%H:%M:%S)T] FAIL: line %d: %s (exit status %d)\n' -1 "$line" "$cmd" "$code" >&2
}
trap 'on_err "$LINENO" "$BASH_COMMAND"' ERR

# --- the binary ---------------------------------------------------------
BIN=${GOSSIPCHAIN_BIN:-$REPO/bin/gossipchain}
if [[ ! -x $BIN ]]; then
	[[ -z ${GOSSIPCHAIN_BIN:-} ]] || die "GOSSIPCHAIN_BIN=$BIN is not an executable file"
	command -v go >/dev/null || die "no $BIN and no go to build it: run 'make build' or set GOSSIPCHAIN_BIN"
	log "building $BIN"
	(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o "$BIN" ./cmd/gossipchain) || die "go build failed"
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
log "binary: $BIN ($("$BIN" version 2>/dev/null || echo '?'))"

WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/$PREFIX.XXXXXX")

# --- the LAN: a bridge in a switch namespace, one veth into each node ------
ns_of() { echo "$PREFIX-n$1"; }

log "creating a LAN of $N namespaces on bridge br0 (in namespace $SWITCH), subnet $SUBNET.0/24"
ip netns add "$SWITCH"
NAMESPACES+=("$SWITCH")
ip -n "$SWITCH" link set lo up
ip -n "$SWITCH" link add br0 type bridge mcast_snooping 0
ip -n "$SWITCH" link set br0 up
for ((i = 1; i <= N; i++)); do
	ns=$(ns_of "$i")
	ip netns add "$ns"
	NAMESPACES+=("$ns")
	# Both ends are created inside namespaces: nothing appears on the host.
	ip -n "$SWITCH" link add "port$i" type veth peer name eth0 netns "$ns"
	ip -n "$SWITCH" link set "port$i" master br0 up
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "$SUBNET.$((10 + i))/24" dev eth0
	ip -n "$ns" link set eth0 up
	# mDNS sends to 224.0.0.251: route multicast out of the LAN interface
	# (there is no default route in the namespace).
	ip -n "$ns" route add 224.0.0.0/4 dev eth0
	log "  $ns: eth0 $SUBNET.$((10 + i))/24, multicast route via eth0"
done

# --- the nodes: no --bootstrap, mDNS only --------------------------------
for ((i = 1; i <= N; i++)); do
	ns=$(ns_of "$i")
	# A clean environment: a GOSSIPCHAIN_* variable in the caller's shell
	# (a bootstrap address, say) must not leak into the demo.
	ip netns exec "$ns" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$WORKDIR" \
		"$BIN" --data-dir "$WORKDIR/node$i" --http "127.0.0.1:$HTTP_PORT" \
		--difficulty "$DIFFICULTY" --mdns --log-format text \
		</dev/null >"$WORKDIR/node$i.log" 2>&1 &
	PIDS+=($!)
	log "node $i: started in $ns, pid $!, no bootstrap address (mDNS only)"
	log "node $i: dashboard http://127.0.0.1:$HTTP_PORT/ in $ns (ip netns exec $ns chromium --no-sandbox http://127.0.0.1:$HTTP_PORT/)"
done

# --- asking a node's HTTP API, from inside its namespace ------------------
# api NODE METHOD PATH: prints the body; fails on a connection error or a
# status other than 2xx.
api() {
	local ns
	ns=$(ns_of "$1")
	ip netns exec "$ns" timeout 120 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" "$2" "$3" >&3
		IFS= read -r statusline <&3 || exit 1
		case "$statusline" in HTTP/1.?\ 2??\ *) ;; *) echo "$statusline" >&2; exit 1 ;; esac
		while IFS= read -r line <&3 && [ ${#line} -gt 1 ]; do :; done # headers end at "\r"
		cat <&3' _ "$HTTP_PORT" "$2" "$3"
}
# json_str FIELD / json_num FIELD: a top-level field of the JSON on stdin.
json_str() { { grep -o "\"$1\":\"[^\"]*\"" || true; } | head -n1 | cut -d'"' -f4; }
json_num() { { grep -o "\"$1\":[0-9]*" || true; } | head -n1 | cut -d: -f2; }

# --- 1. every node answers ------------------------------------------------
deadline=$((SECONDS + TIMEOUT))
declare -A PEER_ID
for ((i = 1; i <= N; i++)); do
	until st=$(api "$i" GET /status 2>/dev/null); do
		kill -0 "${PIDS[i - 1]}" 2>/dev/null || die "node $i exited (its log follows)"
		((SECONDS < deadline)) || die "node $i's API did not answer within ${TIMEOUT}s"
		sleep 0.3
	done
	PEER_ID[$i]=$(json_str peer_id <<<"$st")
	log "node $i: up, peer ID ${PEER_ID[$i]}, wallet $(json_str address <<<"$st")"
done

# --- 2. they find each other by mDNS --------------------------------------
log "waiting for mDNS: each node should see the other $((N - 1))"
deadline=$((SECONDS + TIMEOUT))
declare -A SEEN
while :; do
	all=1
	for ((i = 1; i <= N; i++)); do
		peers=$(api "$i" GET /status 2>/dev/null | json_num peers) || peers=""
		peers=${peers:-0}
		if [[ ${SEEN[$i]:-} != "$peers" ]]; then
			SEEN[$i]=$peers
			log "  node $i: $peers peer(s)"
		fi
		((peers >= N - 1)) || all=0
	done
	((all)) && break
	((SECONDS < deadline)) || die "mDNS: not every node found the other $((N - 1)) within ${TIMEOUT}s"
	sleep 0.5
done
log "every node is connected to the other $((N - 1)), found by mDNS"

# --- 3. a block mined on node 1 appears everywhere -------------------------
log "mining a block on node 1 (POST /mine)"
mined=$(api 1 POST /mine) || die "POST /mine on node 1 failed"
hash=$(json_str hash <<<"$mined")
index=$(json_num index <<<"$mined")
[[ -n $hash && -n $index ]] || die "POST /mine answered: $mined"
log "node 1 mined block $index, hash $hash"

deadline=$((SECONDS + TIMEOUT))
declare -A HAS
while :; do
	all=1
	for ((i = 1; i <= N; i++)); do
		[[ -n ${HAS[$i]:-} ]] && continue
		# The block is on node i's main chain once /blocks/{index} is it.
		got=$(api "$i" GET "/blocks/$index" 2>/dev/null | json_str hash) || got=""
		if [[ $got == "$hash" ]]; then
			HAS[$i]=1
			log "  node $i: has block $index ($hash)"
		else
			all=0
		fi
	done
	((all)) && break
	((SECONDS < deadline)) || die "block $index did not reach every node within ${TIMEOUT}s"
	sleep 0.3
done

STATUS=0
log "PASS: $N nodes found each other by mDNS alone and all have block $index mined on node 1"

if [[ $HOLD == 1 ]]; then
	log "holding the LAN (LAN_HOLD=1); ask a node with:"
	log "  ip netns exec $(ns_of 1) $BIN health --http 127.0.0.1:$HTTP_PORT"
	for ((i = 1; i <= N; i++)); do
		log "  node $i's dashboard: http://127.0.0.1:$HTTP_PORT/ in $(ns_of "$i") (ip netns exec $(ns_of "$i") chromium --no-sandbox http://127.0.0.1:$HTTP_PORT/)"
	done
	log "press Ctrl-C to stop and clean up"
	while :; do sleep 1 || :; done
fi
exit 0
