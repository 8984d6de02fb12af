#!/bin/sh
# Start coturn with the shared secret from the environment, written to a file only coturn
# reads (not on its command line, where `ps` would show it), and with the app network
# (CLASSMOOD_PEER_SUBNET, a CIDR such as 172.30.77.0/24) as the only allowed relay peers.
set -eu
: "${CLASSMOOD_TURN_SECRET:?CLASSMOOD_TURN_SECRET must be set (the same secret as the app)}"
: "${CLASSMOOD_PEER_SUBNET:?CLASSMOOD_PEER_SUBNET must be the app network (CIDR)}"
range=$(echo "$CLASSMOOD_PEER_SUBNET" | awk -F'[./]' 'NF == 5 && $5 >= 8 && $5 <= 32 {
  ip = (($1 * 256 + $2) * 256 + $3) * 256 + $4; n = 2 ^ (32 - $5); lo = ip - ip % n; hi = lo + n - 1
  printf "%d.%d.%d.%d-%d.%d.%d.%d\n", int(lo / 16777216) % 256, int(lo / 65536) % 256, int(lo / 256) % 256, lo % 256,
         int(hi / 16777216) % 256, int(hi / 65536) % 256, int(hi / 256) % 256, hi % 256 }')
[ -n "$range" ] || { echo "CLASSMOOD_PEER_SUBNET is not a CIDR like 172.30.77.0/24: $CLASSMOOD_PEER_SUBNET" >&2; exit 1; }
umask 077
conf=/run/classmood/turnserver.conf
{ cat /etc/classmood/turnserver.conf; echo "static-auth-secret=$CLASSMOOD_TURN_SECRET"; echo "allowed-peer-ip=$range"; } > "$conf"
unset CLASSMOOD_TURN_SECRET
echo "coturn: relays only to $range"
exec turnserver -c "$conf" "$@"
