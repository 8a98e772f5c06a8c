#!/bin/sh
# OCI createRuntime (or prestart) hook: gives the container a veth pair, the way
# a CNI bridge/ptp plug-in does. Runs in the runtime's namespaces with the
# container state on stdin; the container's network namespace is reached through
# the init pid in that state. The pair goes away with the namespace: no poststop
# hook is needed.
#
#   "hooks": { "createRuntime": [ { "path": "/path/to/veth.sh",
#       "args": ["veth.sh", "10.200.0.1/24", "10.200.0.2/24"] } ] }
#
# Host side: vapus<pid> with the first address; container side: eth0 with the
# second, up, with a default route through the host side.
set -eu
host_addr=${1:-10.200.0.1/24}
ctr_addr=${2:-10.200.0.2/24}
state=$(cat)
pid=$(printf '%s' "$state" | sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p')
[ -n "$pid" ] || { echo "veth hook: no pid in state: $state" >&2; exit 1; }
host_if="vapus$pid"
ip link add "$host_if" type veth peer name eth0 netns "$pid"
ip addr add "$host_addr" dev "$host_if"
ip link set "$host_if" up
nsenter -t "$pid" -n ip addr add "$ctr_addr" dev eth0
nsenter -t "$pid" -n ip link set eth0 up
nsenter -t "$pid" -n ip route add default via "${host_addr%/*}"
