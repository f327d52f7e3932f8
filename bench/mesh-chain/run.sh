#!/usr/bin/env bash
# Gangway's mesh data path beside HAProxy's and nginx stream's, in one run, on loopback only:
#
#   wrk -> sidecar1 (plaintext in, originates mTLS, SNI = destination)
#       -> gw1 (dc1 mesh gateway, SNI passthrough) -> gw2 (dc2 mesh gateway, SNI passthrough)
#       -> sidecar2 (terminates mTLS, verifies the client's identity) -> nginx app
#
# Peers: the configs of bench/peer-chain (copied to peer-conf/: HAProxy and nginx stream as the
# four proxies, a 2-hop sidecar->sidecar variant and a resumption variant). Gangway: two real
# datacenters (one server each, WAN-joined, dc1 primary, one CA), a mesh gateway per DC, `api`
# (the same nginx app) in dc2 with a sidecar, `web` and `web2` in dc1 with sidecars whose
# upstreams to api@dc2 go through the gateways (mode local: gw4) or straight to api's sidecar
# (mode none: gw2). Same wrk, same Lua reporter, same app, same pinning, same OPENSSL_CONF
# (TLS 1.3, P-256) for every proxy.
#
# Full handshakes: the peers' hap4/hap2/ngx4/ngx2 never resume (no-ssl-reuse,
# proxy_ssl_session_reuse off). Gangway's sidecars resume by default, so api's sidecar runs with
# an OpenSSL config that issues no TLS 1.3 tickets (NumTickets = 0): every connection of gw4 and
# gw2 is a full mTLS handshake, which the script checks in the sidecar's TlsResumed counter.
# gw4r goes to `api-r`, the same app behind a sidecar with the default (tickets, resumption),
# as hap4r/ngx4r.
#
# Multiplexing (docs/mux.md): web's sidecar carries its connections to api as streams of shared
# mTLS connections, so gw4/gw2/gw4r pay no handshake per connection. gw4p is the same 4-hop
# chain from `web3`, whose sidecar runs with -multiplex=false: one full mTLS handshake per
# connection, as the peers do.
#
# Usage: bench/mesh-chain/run.sh                    (REPS=3 DUR=10, about 25 min of load)
#        REPS=1 DUR=2 bench/mesh-chain/run.sh       (smoke test, about 3 min)
#        SUITE=goals ...   only the tests the goals need (no lat1k, no TLS micro-benchmark)
#        SUITE=l7 ...      the HTTP (L7) chains: gw4h beside gw4 (L4) and HAProxy in HTTP mode (hap4h)
#        ONLY="ka16:hap4 gw4,close16:hap4 gw4" ...  just these tests and configs
#        WAIT_LOAD=1.0 WAIT_MAX=1500 ...  first wait (polling every 30 s, at most WAIT_MAX s)
#                          until the 1-minute load average is below WAIT_LOAD
# Variables: BUILD (default build), GANGWAY (binary), RUNDIR (default $BUILD/mesh-chain-run),
# PORT_PREFIX (default 26: ports 26080-26991), WORKERS (gangway -workers, default 1), WAIT_SCALE
# (multiplies every readiness timeout; for slowed-down proxies), PIN,
# CLIENT_CPU, SERVER_CPU. Needs haproxy, nginx, libnginx-mod-stream, wrk, openssl, curl, python3.
# Stops exactly the PIDs it started (trap on exit). Results: $RUNDIR/results.tsv (raw) and
# $RUNDIR/summary.txt (the table and the goals).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${BUILD:-$ROOT/build}" && pwd) || exit 1
G=$(realpath "${GANGWAY:-$BUILD/tools/gangway}")
R=${RUNDIR:-$BUILD/mesh-chain-run}
REPS=${REPS:-3}
DUR=${DUR:-10}
PIN=${PIN:-1}
SUITE=${SUITE:-full}
WORKERS=${WORKERS:-1}
PP=${PORT_PREFIX:-26}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
WAIT_LOAD=${WAIT_LOAD:-}
WAIT_MAX=${WAIT_MAX:-1500}

for b in haproxy nginx wrk openssl taskset curl python3 ss; do
  command -v "$b" >/dev/null || { echo "missing $b (apt-get install haproxy nginx libnginx-mod-stream wrk)"; exit 1; }
done
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || { echo "missing libnginx-mod-stream"; exit 1; }
[ -x "$G" ] || { echo "no gangway binary at $G (ninja -C $BUILD gangway)"; exit 1; }

P() { echo $((PP * 1000 + 10#$1)); }   # port by offset: P 080 -> 26080
# Peers (offsets of peer-chain's 18xxx ports), then Gangway: agents 50x/51x, gateways 52x,
# sidecars 53x/54x, upstream listeners 55x.
PORTS=""
for o in 080 101 102 103 104 111 121 131 134 201 202 203 204 211 221 990 \
         501 502 503 504 511 512 513 514 521 522 531 532 533 541 542 543 551 552 553 554 555; do
  PORTS+=" $(P $o)"
done
for p in $PORTS; do
  if ss -Hltn "sport = :$p" | grep -q .; then echo "port $p already in use; aborting (PORT_PREFIX)"; exit 1; fi
done

if [ -n "$WAIT_LOAD" ]; then
  waited=0
  while awk -v max="$WAIT_LOAD" '{exit !($1 >= max)}' /proc/loadavg && [ $waited -lt "$WAIT_MAX" ]; do
    echo "loadavg $(cut -d' ' -f1-3 /proc/loadavg): waiting for < $WAIT_LOAD ($waited s of $WAIT_MAX)"
    sleep 30; waited=$((waited + 30))
  done
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg) after waiting $waited s"
fi

rm -rf "$R"; mkdir -p "$R/certs" "$R/www" "$R/tmp-backend"
cd "$R" || exit 1

# ---------------------------------------------------------------- peer certificates (EC P-256)
C=$R/certs
openssl ecparam -name prime256v1 -genkey -noout -out $C/ca.key 2>/dev/null
openssl req -x509 -new -key $C/ca.key -sha256 -days 7 -subj "/O=mesh/CN=mesh-test-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out $C/ca.pem 2>/dev/null
leaf() { # name CN SAN-URI
  openssl ecparam -name prime256v1 -genkey -noout -out $C/$1.key 2>/dev/null
  openssl req -new -key $C/$1.key -subj "/O=mesh/CN=$2" -out $C/$1.csr 2>/dev/null
  printf "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:%s,URI:%s\n" "$2" "$3" > $C/$1.ext
  openssl x509 -req -in $C/$1.csr -CA $C/ca.pem -CAkey $C/ca.key -CAcreateserial -days 7 -sha256 \
    -extfile $C/$1.ext -out $C/$1.crt 2>/dev/null
  cat $C/$1.crt $C/$1.key > $C/$1.pem
}
leaf server   server.default.dc2.internal.mesh   spiffe://mesh.test/ns/default/dc/dc2/svc/server
leaf client   client.default.dc1.internal.mesh   spiffe://mesh.test/ns/default/dc/dc1/svc/client
leaf intruder intruder.default.dc1.internal.mesh spiffe://mesh.test/ns/default/dc/dc1/svc/intruder
leaf serverh  serverh.default.dc2.internal.mesh  spiffe://mesh.test/ns/default/dc/dc2/svc/serverh  # L7 rows

# ---------------------------------------------------------------- app content, configs
head -c 99 /dev/zero | tr '\0' 'a' > www/small; echo >> www/small         # 100 bytes
head -c 65536 /dev/urandom > www/big                                        # 64 KiB
for f in "$HERE"/peer-conf/*; do
  sed -e "s#@R@#$R#g" -e "s#127\.0\.0\.1:18\([0-9][0-9][0-9]\)#127.0.0.1:$PP\1#g" "$f" > "$R/$(basename "$f")"
done
# The same TLS 1.3 + P-256 settings, and no TLS 1.3 tickets: a server that issues none makes
# every client connection a full handshake.
{ cat "$R/openssl-p256.cnf"; echo "NumTickets = 0"; } > "$R/openssl-p256-noticket.cnf"

# ---------------------------------------------------------------- processes
declare -A PID
pin() { if [ "$PIN" = 1 ]; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }
start() { # name cmd...   ($! is the server's own PID: subshell + exec, taskset execs too)
  local name=$1; shift
  [ "$PIN" = 1 ] && set -- taskset -c "$SERVER_CPU" "$@"
  ( export OPENSSL_CONF=${OSSL_CONF:-$R/openssl-p256.cnf}; exec "$@" ) >"$R/$name.out" 2>&1 &
  PID[$name]=$!
  echo "${PID[$name]} $name" >> "$R/pids"
}
cleanup() {
  for n in "${!PID[@]}"; do kill -TERM "${PID[$n]}" 2>/dev/null; done
  for n in "${!PID[@]}"; do
    for _ in $(seq 100); do kill -0 "${PID[$n]}" 2>/dev/null || break; sleep 0.1; done
    kill -0 "${PID[$n]}" 2>/dev/null && kill -KILL "${PID[$n]}" 2>/dev/null
  done
  echo "stopped: ${!PID[*]}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
wait_for() { # description seconds command...
  local desc=$1 secs=$(($2 * ${WAIT_SCALE:-1})); shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then
      echo "timed out after ${secs}s waiting for: $desc"; tail -n 5 "$R"/gw_*.out "$R"/dc*.out; exit 1
    fi
    sleep 0.5
  done
}

NGX="nginx -e /dev/stderr -p $R -c"
start app      $NGX $R/backend-nginx.conf
start hap_sc2  haproxy -db -f $R/hap-sc2.cfg
start hap_gw2  haproxy -db -f $R/hap-gw2.cfg
start hap_gw1  haproxy -db -f $R/hap-gw1.cfg
start hap_sc1  haproxy -db -f $R/hap-sc1.cfg
start hap_sc2h haproxy -db -f $R/hap-sc2-http.cfg
start hap_sc1h haproxy -db -f $R/hap-sc1-http.cfg
start ngx_sc2  $NGX $R/ngx-sc2.conf
start ngx_gw2  $NGX $R/ngx-gw2.conf
start ngx_gw1  $NGX $R/ngx-gw1.conf
start ngx_sc1  $NGX $R/ngx-sc1.conf

# Gangway: one server per DC, WAN-joined; dc1 is the primary (its CA signs dc2's intermediate).
DC1=127.0.0.1:$(P 501); DC2=127.0.0.1:$(P 511)
echo 'connect { enabled = true }' > $R/connect.hcl
agent() { # name dc first-port-offset extra...
  local name=$1 dc=$2 o=$3; shift 3
  mkdir -p "$R/$name"
  start "$name" "$G" agent -server -bootstrap -node "$name" -datacenter "$dc" -data-dir "$R/$name" \
    -bind 127.0.0.1 -client 127.0.0.1 -http-port "$(P $o)" -dns-port -1 \
    -serf-lan-port "$(P $((10#$o + 1)))" -serf-wan-port "$(P $((10#$o + 2)))" \
    -server-port "$(P $((10#$o + 3)))" -config-file $R/connect.hcl -log-level warn "$@"
}
agent dc1 dc1 501
agent dc2 dc2 511 -hcl 'primary_datacenter = "dc1"' -retry-join-wan 127.0.0.1:$(P 503) -retry-interval-wan 1s

for p in 080 101 102 103 104 111 121 131 134 201 202 203 204 211 221; do
  for _ in $(seq 50); do ss -Hltn "sport = :$(P $p)" | grep -q . && break; sleep 0.1; done
  ss -Hltn "sport = :$(P $p)" | grep -q . || { echo "port $(P $p) did not come up"; tail -n 5 $R/*.out; exit 1; }
done
has_leader() { curl -sf "http://$1/v1/status/leader" | grep -q ':'; }
wait_for "dc1 leader" 60 has_leader $DC1
wait_for "dc2 leader" 60 has_leader $DC2
wait_for "WAN join" 60 sh -c "curl -sf http://$DC1/v1/catalog/datacenters | grep -q dc2"
wait_for "dc2 CA" 60 sh -c "curl -sf http://$DC2/v1/connect/ca/roots | grep -q '\"ActiveRootID\": *\"[^\"]'"

# Services: api (full handshakes) and api-r (resumption) in dc2, both the nginx app; web (via
# the gateways) and web2 (direct) in dc1.
cat > $R/api.json <<EOF
{"service": {"name": "api", "port": $(P 080), "connect": {"sidecar_service": {"port": $(P 541)}}}}
EOF
cat > $R/api-r.json <<EOF
{"service": {"name": "api-r", "port": $(P 080), "connect": {"sidecar_service": {"port": $(P 542)}}}}
EOF
# api-h: the same app behind an HTTP (L7) chain: protocol http and a service-router, so web's
# sidecar routes each request (the gw4h rows, beside HAProxy in HTTP mode, hap4h).
cat > $R/api-h.json <<EOF
{"service": {"name": "api-h", "port": $(P 080), "connect": {"sidecar_service": {"port": $(P 543)}}}}
EOF
cat > $R/api-h-defaults.json <<EOF
{"Kind": "service-defaults", "Name": "api-h", "Protocol": "http"}
EOF
cat > $R/api-h-router.json <<EOF
{"Kind": "service-router", "Name": "api-h", "Routes": [
  {"Match": {"HTTP": {"PathPrefix": "/"}}, "Destination": {"Service": "api-h"}}]}
EOF
cat > $R/web.json <<EOF
{"service": {"name": "web", "port": $(P 590), "connect": {"sidecar_service": {"port": $(P 531), "proxy": {"upstreams": [
  {"destination_name": "api", "datacenter": "dc2", "local_bind_port": $(P 551), "mesh_gateway": {"mode": "local"}},
  {"destination_name": "api-r", "datacenter": "dc2", "local_bind_port": $(P 552), "mesh_gateway": {"mode": "local"}},
  {"destination_name": "api-h", "datacenter": "dc2", "local_bind_port": $(P 554), "mesh_gateway": {"mode": "local"}}]}}}}}
EOF
cat > $R/web2.json <<EOF
{"service": {"name": "web2", "port": $(P 592), "connect": {"sidecar_service": {"port": $(P 532), "proxy": {"upstreams": [
  {"destination_name": "api", "datacenter": "dc2", "local_bind_port": $(P 553), "mesh_gateway": {"mode": "none"}}]}}}}}
EOF
for e in api-h-defaults api-h-router; do CONSUL_HTTP_ADDR=$DC1 "$G" config write $R/$e.json >> $R/register.out 2>&1 || { cat $R/register.out; exit 1; }; done
for s in api api-r api-h; do CONSUL_HTTP_ADDR=$DC2 "$G" services register $R/$s.json >> $R/register.out 2>&1 || { cat $R/register.out; exit 1; }; done
cat > $R/web3.json <<EOF
{"service": {"name": "web3", "port": $(P 593), "connect": {"sidecar_service": {"port": $(P 533), "proxy": {"upstreams": [
  {"destination_name": "api", "datacenter": "dc2", "local_bind_port": $(P 555), "mesh_gateway": {"mode": "local"}}]}}}}}
EOF
for s in web web2 web3; do CONSUL_HTTP_ADDR=$DC1 "$G" services register $R/$s.json >> $R/register.out 2>&1 || { cat $R/register.out; exit 1; }; done

GW=(-workers "$WORKERS" -admin-bind 127.0.0.1:0 -log-level info)
start gw_gw1 "$G" connect gateway mesh -register -service mesh-gateway -address 127.0.0.1:$(P 521) \
  -wan-address 127.0.0.1:$(P 521) -http-addr $DC1 "${GW[@]}"
start gw_gw2 "$G" connect gateway mesh -register -service mesh-gateway -address 127.0.0.1:$(P 522) \
  -wan-address 127.0.0.1:$(P 522) -http-addr $DC2 "${GW[@]}"
OSSL_CONF=$R/openssl-p256-noticket.cnf start gw_sc2 "$G" connect proxy -sidecar-for api -http-addr $DC2 "${GW[@]}"
start gw_sc2r "$G" connect proxy -sidecar-for api-r -http-addr $DC2 "${GW[@]}"
OSSL_CONF=$R/openssl-p256-noticket.cnf start gw_sc2h "$G" connect proxy -sidecar-for api-h -http-addr $DC2 "${GW[@]}"
start gw_sc1  "$G" connect proxy -sidecar-for web -http-addr $DC1 "${GW[@]}"
start gw_sc1n "$G" connect proxy -sidecar-for web2 -http-addr $DC1 "${GW[@]}"
start gw_sc1p "$G" connect proxy -sidecar-for web3 -http-addr $DC1 "${GW[@]}" -multiplex=false

# A mesh gateway counts once its first TCP check (every 10 s) passed; api's sidecar once its own.
passing() { curl -sf "http://$1/v1/health/$2?passing" | grep -q '"ServiceID"'; }
wait_for "dc1 mesh gateway passing" 90 passing $DC1 service/mesh-gateway
wait_for "dc2 mesh gateway passing" 90 passing $DC2 service/mesh-gateway
wait_for "api sidecar passing" 90 passing $DC2 connect/api
wait_for "api-r sidecar passing" 90 passing $DC2 connect/api-r
wait_for "api-h sidecar passing" 90 passing $DC2 connect/api-h
served() { [ "$(curl -s -o /dev/null -w '%{http_code}:%{size_download}' --max-time 5 "http://127.0.0.1:$1/small")" = "200:100" ]; }
for o in 551 552 553 554 555; do wait_for "a request through 127.0.0.1:$(P $o)" 90 served $(P $o); done
echo "started: $(tr '\n' ' ' < $R/pids)"
admin_port() { sed -n 's/.*admin endpoint listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$R/$1.out" | head -n1; }
stats() { curl -s --max-time 5 "http://127.0.0.1:$(admin_port "$1")/stats"; }

# ---------------------------------------------------------------- functional checks
fail=0
chk() { # desc expected-bytes url
  local got; got=$(curl -s -o /dev/null -w '%{http_code}:%{size_download}' --max-time 5 "$3")
  if [ "$got" = "200:$2" ]; then echo "ok   $1"; else echo "FAIL $1 (got $got)"; fail=1; fi
}
for e in direct:080 hap4:101 hap2:111 hap4r:121 hap4h:131 ngx4:201 ngx2:211 ngx4r:221 gw4:551 gw2:553 gw4r:552 gw4h:554 gw4p:555; do
  chk "${e%%:*} small" 100   "http://127.0.0.1:$(P ${e##*:})/small"
  chk "${e%%:*} big"   65536 "http://127.0.0.1:$(P ${e##*:})/big"
done
tls_get() { # port sni cert
  printf 'GET /small HTTP/1.0\r\n\r\n' | timeout 5 openssl s_client -quiet -connect 127.0.0.1:$1 \
    -servername "$2" -cert $C/$3.crt -key $C/$3.key -CAfile $C/ca.pem -groups P-256 2>/dev/null | head -c 200
}
neg() { if tls_get "${@:2}" | grep -q "200 OK"; then echo "FAIL $1 (was allowed)"; fail=1; else echo "ok   $1 (refused)"; fi; }
pos() { if tls_get "${@:2}" | grep -q "200 OK"; then echo "ok   $1 (allowed)"; else echo "FAIL $1"; fail=1; fi; }
for s in hap:104:102 ngx:204:202; do
  IFS=: read -r impl sc2 gw1 <<< "$s"
  pos "$impl sc2 accepts client identity"       $(P $sc2) server.default.dc2.internal.mesh client
  neg "$impl sc2 rejects intruder identity"     $(P $sc2) server.default.dc2.internal.mesh intruder
  pos "$impl gw1 routes known SNI end-to-end"   $(P $gw1) server.default.dc2.internal.mesh client
  neg "$impl gw1 drops unknown SNI"             $(P $gw1) other.default.dc3.internal.mesh client
done
# Gangway: a certificate from another CA is refused by api's sidecar, an unknown SNI by dc1's gateway.
TD=$(curl -s http://$DC1/v1/connect/ca/roots | python3 -c 'import json,sys; print(json.load(sys.stdin)["TrustDomain"])')
neg "gangway sc2 rejects a foreign CA's client" $(P 541) api.default.dc2.internal.$TD client
neg "gangway gw1 drops unknown SNI"             $(P 521) other.default.dc3.internal.$TD client
[ "$fail" = 0 ] || { echo "functional checks failed"; exit 1; }

# ---------------------------------------------------------------- measurement
HZ=$(getconf CLK_TCK)
declare -A EP=( [direct]=$(P 080) [hap4]=$(P 101) [hap2]=$(P 111) [hap4r]=$(P 121) [ngx4]=$(P 201)
                [ngx2]=$(P 211) [ngx4r]=$(P 221) [gw4]=$(P 551) [gw4r]=$(P 552) [gw2]=$(P 553) [gw4p]=$(P 555)
                [hap4h]=$(P 131) [gw4h]=$(P 554) )
# test: conns|path|wrk-extra|delay-ms
declare -A T=( [ka16]="16|/small||0" [ka64]="64|/small||0" [lat1k]="16|/small||16"
               [big16]="16|/big||0" [close16]="16|/small|Connection: close|0" )
CFGS="direct hap4 ngx4 gw4 hap2 ngx2 gw2"
L7="hap4 gw4 hap4h gw4h"
case "$SUITE" in
  core)  ORDER=( "ka16:direct hap4 ngx4 gw4" ) ;;
  l7)    ORDER=( "ka16:direct $L7" "ka64:$L7" "big16:$L7" "close16:$L7" ) ;;
  goals) ORDER=( "ka16:$CFGS gw4p" "ka64:$CFGS gw4p" "big16:$CFGS gw4p" "close16:$CFGS gw4p hap4r ngx4r gw4r" ) ;;
  *)     ORDER=( "ka16:$CFGS gw4p hap4h gw4h" "ka64:$CFGS gw4p hap4h gw4h" "lat1k:$CFGS" "big16:$CFGS gw4p hap4h gw4h"
                   "close16:$CFGS gw4p hap4r ngx4r gw4r hap4h gw4h" ) ;;
esac
# ONLY="ka16:hap4 gw4,big16:hap4 gw4" replaces the suite's tests and configs (comma-separated).
[ -n "${ONLY:-}" ] && IFS=, read -r -a ORDER <<< "$ONLY"
procticks() { # sum utime+stime of pid and its direct children (nginx workers); all threads
  local t=0 p
  for p in $1 $(ps -o pid= --ppid "$1" 2>/dev/null); do
    [ -r /proc/$p/stat ] && t=$((t + $(awk '{print $14+$15}' /proc/$p/stat)))
  done; echo $t
}
snap() { local s=""; for n in $(printf '%s\n' "${!PID[@]}" | sort); do s+="$n=$(procticks ${PID[$n]}),"; done; echo "$s"; }
cpustat() { awk '/^cpu[0-9]/{printf "%s=%d:%d,", $1, $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
rss() { local s=""; for n in $(printf '%s\n' "${!PID[@]}" | sort); do
  local k=0 p; for p in ${PID[$n]} $(ps -o pid= --ppid ${PID[$n]}); do
    k=$((k + $(awk '/VmHWM/{print $2}' /proc/$p/status 2>/dev/null || echo 0))); done; s+="$n=$k,"; done; echo "$s"; }

# PERF=<test>:<cfg> (e.g. ka16:gw4): perf record -g of every Gangway proxy during that test's
# first repetition, into $RUNDIR/perf-<test>-<cfg>.data (that row then pays perf's overhead).
gw_pids() { local n l=""; for n in gw_sc1 gw_sc1n gw_sc1p gw_sc2 gw_sc2r gw_sc2h gw_gw1 gw_gw2; do l+="${l:+,}${PID[$n]}"; done; echo "$l"; }

OUT=$R/results.tsv
echo -e "rep\ttest\tcfg\treqs\tdur_us\tbytes\terrors\tp50_us\tp90_us\tp99_us\tmax_us\tmean_us\tcpu_before\tcpu_after\tproc_before\tproc_after\tloadavg" > $OUT
for c in direct hap4 ngx4 gw4 gw2 hap4h gw4h; do pin $CLIENT_CPU wrk -t1 -c16 -d2s http://127.0.0.1:${EP[$c]}/small >/dev/null 2>&1; done
t0=$(date +%s)
for rep in $(seq 1 $REPS); do
  for spec in "${ORDER[@]}"; do
    test=${spec%%:*}
    IFS='|' read -r conns path hdr dly <<< "${T[$test]}"
    for cfg in ${spec#*:}; do
      args=(-t1 -c$conns -d${DUR}s --timeout 5s -s $R/report.lua)
      [ -n "$hdr" ] && args+=(-H "$hdr")
      la=$(cut -d' ' -f1 /proc/loadavg)
      perfpid=""
      if [ "${PERF:-}" = "$test:$cfg" ] && [ "$rep" = 1 ]; then
        perf record -F 499 -g -o "$R/perf-$test-$cfg.data" -p "$(gw_pids)" -- sleep "$DUR" >"$R/perf.out" 2>&1 &
        perfpid=$!
      fi
      cb=$(cpustat); pb=$(snap)
      line=$(WRK_DELAY_MS=$dly pin $CLIENT_CPU wrk "${args[@]}" "http://127.0.0.1:${EP[$cfg]}$path" 2>&1 | grep '^RESULT')
      ca=$(cpustat); pa=$(snap)
      [ -n "$perfpid" ] && wait "$perfpid"
      if [ -z "$line" ]; then echo "wrk failed: $test $cfg"; continue; fi
      vals=$(echo "$line" | sed 's/RESULT //; s/[a-z0-9_]*=//g' | tr ' ' '\t')
      echo -e "$rep\t$test\t$cfg\t$vals\t$cb\t$ca\t$pb\t$pa\t$la" >> $OUT
      printf "rep %d %-8s %-7s %s\n" $rep $test $cfg "$(echo $line | cut -d' ' -f2-6)"
      sleep 1
    done
  done
done
echo "measurement wall time: $(( $(date +%s) - t0 )) s"

# What Gangway's sidecars did: resumed handshakes per upstream cluster (gw4/gw2 must show none),
# refusals and connection errors per proxy.
for n in gw_sc1 gw_sc1n gw_sc1p gw_sc2 gw_sc2r gw_sc2h gw_gw1 gw_gw2; do
  stats $n | python3 -c '
import json, sys
s = json.load(sys.stdin)
cl = ", ".join("%s: %d conns, %d resumed, %d multiplexed TLS conns" % (k.split(".")[0], v["Connections"], v["TlsResumed"], v.get("MuxSessions", 0))
               for k, v in s.get("Clusters", {}).items() if v["Connections"])
ref = sum(n for l in s.get("Listeners", {}).values() for r, n in l.get("Refused", {}).items() if r != "empty")
print("%-8s refused %d, errors %d; %s" % (sys.argv[1], ref, s.get("ConnectionErrors", 0), cl))' $n
done | tee $R/gangway-stats.txt

# ---------------------------------------------------------------- TLS handshake micro-benchmark
hs() { # label server-args...
  local label=$1; shift
  taskset -c $SERVER_CPU openssl s_server -accept 127.0.0.1:$(P 990) -cert $C/server.crt -key $C/server.key \
      -quiet -naccept 1000000 "$@" >/dev/null 2>&1 &
  local sp=$!; PID[s_server]=$sp; sleep 0.5
  local u0 s0 u1 s1 out n cu
  read -r u0 s0 < <(awk '{print $14, $15}' /proc/$sp/stat)
  out=$(timeout 15 taskset -c $CLIENT_CPU openssl s_time -connect 127.0.0.1:$(P 990) -new -time $((DUR/2>3?DUR/2:3)) \
        -cert $C/client.crt -key $C/client.key -CAfile $C/ca.pem 2>&1)
  read -r u1 s1 < <(awk '{print $14, $15}' /proc/$sp/stat)
  kill $sp; wait $sp 2>/dev/null; unset 'PID[s_server]'
  n=$(echo "$out" | awk '/real seconds/{print $1}'); cu=$(echo "$out" | awk '/connections\/user sec/{print $5}')
  echo "$label: $n full handshakes; server CPU/handshake = $(( (u1-u0+s1-s0)*1000000/HZ/n )) us; client (s_time) = $(python3 -c "print(round(1e6/$cu))") us user" | tee -a $R/tls.txt
}
: > $R/tls.txt
if [ "$SUITE" = full ]; then
  hs "TLS1.3 P-256 ECDSA, mTLS (client cert verified)" -groups P-256 -Verify 2 -CAfile $C/ca.pem
fi
echo "peak RSS kB (VmHWM, master+workers): $(rss)" | tee $R/rss.txt
# VmHWM counts the binary's pages shared by all Gangway processes; the split, now:
for n in gw_sc1 gw_sc1n gw_sc1p gw_sc2 gw_sc2r gw_sc2h gw_gw1 gw_gw2; do
  awk -v n=$n '/^(VmRSS|RssAnon|RssFile):/{s = s " " $1 $2} END {print n ":" s " kB"}' /proc/${PID[$n]}/status
done | tee $R/rss-split.txt

# ---------------------------------------------------------------- summary table and goals
[ "$(wc -l < $OUT)" -gt 1 ] && python3 - "$OUT" "$HZ" "$PIN" "$R/rss.txt" "$WORKERS" <<'PY' | tee $R/summary.txt
import sys, csv, statistics as st
out, hz, pin, rssf, workers = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
rows = list(csv.DictReader(open(out), delimiter='\t'))
def kv(s):
    d = {}
    for p in s.strip(',').split(','):
        if p: k, v = p.split('='); d[k] = v
    return d
HAP4 = ['hap_sc1', 'hap_gw1', 'hap_gw2', 'hap_sc2', 'app']
NGX4 = ['ngx_sc1', 'ngx_gw1', 'ngx_gw2', 'ngx_sc2', 'app']
HOPS = {'direct': ['app'], 'hap4': HAP4, 'hap4r': HAP4, 'hap2': ['hap_sc1', 'hap_sc2', 'app'],
        'ngx4': NGX4, 'ngx4r': NGX4, 'ngx2': ['ngx_sc1', 'ngx_sc2', 'app'],
        'gw4': ['gw_sc1', 'gw_gw1', 'gw_gw2', 'gw_sc2', 'app'],
        'gw4r': ['gw_sc1', 'gw_gw1', 'gw_gw2', 'gw_sc2r', 'app'],
        'gw2': ['gw_sc1n', 'gw_sc2', 'app'],
        'gw4p': ['gw_sc1p', 'gw_gw1', 'gw_gw2', 'gw_sc2', 'app'],
        'hap4h': ['hap_sc1h', 'hap_gw1', 'hap_gw2', 'hap_sc2h', 'app'],
        'gw4h': ['gw_sc1', 'gw_gw1', 'gw_gw2', 'gw_sc2h', 'app']}
CFGS = ['direct', 'hap4', 'ngx4', 'gw4', 'gw4p', 'hap2', 'ngx2', 'gw2', 'hap4r', 'ngx4r', 'gw4r', 'hap4h', 'gw4h']
TESTS = ['ka16', 'ka64', 'lat1k', 'big16', 'close16']
agg = {}
for r in rows:
    dur = int(r['dur_us']) / 1e6
    b, a = kv(r['proc_before']), kv(r['proc_after'])
    cpu = {k: (int(a[k]) - int(b[k])) / hz / dur for k in a if k in b}
    cb, ca = kv(r['cpu_before']), kv(r['cpu_after'])
    core = {}
    for k in ca:
        bb, bt = map(int, cb[k].split(':')); ab, at = map(int, ca[k].split(':'))
        core[k] = (ab - bb) / max(1, at - bt)
    agg.setdefault((r['test'], r['cfg']), []).append(dict(
        rps=int(r['reqs']) / dur, mbs=int(r['bytes']) / dur / 1e6, p50=int(r['p50_us']) / 1000,
        p90=int(r['p90_us']) / 1000, p99=int(r['p99_us']) / 1000, err=int(r['errors']), cpu=cpu,
        core=core, la=float(r['loadavg'])))
med = st.median
def m(t, c, f): return med([x[f] for x in agg[(t, c)]])
def chain_cpu(t, c, incl_app=True):
    hops = HOPS[c] if incl_app else [h for h in HOPS[c] if h != 'app']
    return med([sum(x['cpu'].get(h, 0) for h in hops) for x in agg[(t, c)]])
print("# srvcores = CPU of app+proxies (from /proc/PID/stat); cpu1busy = whole core 1 busy (incl. softirq, agents + other tenants); wrkcore = core 0 busy")
print(f"# medians of {len(set(r['rep'] for r in rows))} reps; PIN={pin} (1 = wrk on cpu0, all servers on cpu1); gangway -workers {workers}")
print("# cfg: direct=wrk->app; *4 = sc1->gw1->gw2->sc2->app; *2 = sc1->sc2->app; *r = session resumption allowed; *h = HTTP (L7) sidecars; gw = Gangway")
print(f"{'test':8} {'cfg':7} {'req/s':>9} {'xdirect':>7} {'MB/s':>8} {'p50ms':>7} {'p90ms':>7} {'p99ms':>7} {'err':>4} {'srvcores':>8} {'cpu1busy':>8} {'wrkcore':>7} {'proxy_vCPU/1krps':>16}")
for t in TESTS:
    for c in CFGS:
        if (t, c) not in agg: continue
        rps = m(t, c, 'rps'); base = m(t, 'direct', 'rps') if (t, 'direct') in agg else float('nan')
        srv = chain_cpu(t, c); prox = chain_cpu(t, c, False)
        wrkc = med([x['core'].get('cpu0', float('nan')) for x in agg[(t, c)]]) if pin == '1' else float('nan')
        c1 = med([x['core'].get('cpu1', float('nan')) for x in agg[(t, c)]])
        per1k = prox / rps * 1000 if c != 'direct' else float('nan')
        print(f"{t:8} {c:7} {rps:9.0f} {rps/base:7.3f} {m(t,c,'mbs'):8.1f} {m(t,c,'p50'):7.3f} {m(t,c,'p90'):7.3f} {m(t,c,'p99'):7.3f} "
              f"{int(m(t,c,'err')):4d} {srv:8.2f} {c1:8.2f} {wrkc:7.2f} {per1k:16.3f}")
print()
print("# per-hop CPU (cores) and µs of CPU per request, medians; agents = both gangway servers (control plane, not in the path)")
for t in TESTS:
    for c in CFGS:
        if (t, c) not in agg or t == 'lat1k': continue
        rps = m(t, c, 'rps')
        parts = []
        for h in HOPS[c]:
            cores = med([x['cpu'].get(h, 0) for x in agg[(t, c)]])
            parts.append(f"{h}={cores:.2f}c/{cores/rps*1e6:.1f}us")
        if c.startswith('gw'):
            cores = med([x['cpu'].get('dc1', 0) + x['cpu'].get('dc2', 0) for x in agg[(t, c)]])
            parts.append(f"(agents={cores:.3f}c)")
        print(f"{t:8} {c:7} " + "  ".join(parts))
print()
print("# loadavg(1m) at test start: min %.2f max %.2f" % (min(x['la'] for v in agg.values() for x in v), max(x['la'] for v in agg.values() for x in v)))
rss = kv(open(rssf).read().split(': ', 1)[1].strip())
print(open(rssf).read().strip())

# The goals, against the HAProxy chain of the same shape (and nginx's, for reference).
print()
print("# goals: Gangway vs the peer chain of the same shape, this run")
def goal(name, ok, text):
    print(f"{'met    ' if ok else 'NOT met'}  {name:44} {text}")
for gw, peers in [('gw4', ['hap4', 'ngx4']), ('gw2', ['hap2', 'ngx2'])]:
    for peer in peers:
        for t in ['ka16', 'ka64']:
            if (t, gw) not in agg or (t, peer) not in agg: continue
            r = m(t, gw, 'rps') / m(t, peer, 'rps')
            ok = r >= 1.3 and m(t, gw, 'p99') <= m(t, peer, 'p99')
            goal(f"{t} req/s >= 1.3x {peer}, p99 no higher", ok,
                 f"{m(t, gw, 'rps'):.0f} vs {m(t, peer, 'rps'):.0f} req/s = {r:.2f}x; p99 {m(t, gw, 'p99'):.2f} vs {m(t, peer, 'p99'):.2f} ms")
        if ('big16', gw) in agg and ('big16', peer) in agg:
            r = m('big16', gw, 'mbs') / m('big16', peer, 'mbs')
            goal(f"big16 64 KiB MB/s >= 1.5x {peer}", r >= 1.5,
                 f"{m('big16', gw, 'mbs'):.1f} vs {m('big16', peer, 'mbs'):.1f} MB/s = {r:.2f}x")
        if ('close16', gw) in agg and ('close16', peer) in agg:
            r = m('close16', gw, 'rps') / m('close16', peer, 'rps')
            goal(f"close16 new conns/s >= 2x {peer}", r >= 2,
                 f"{m('close16', gw, 'rps'):.0f} vs {m('close16', peer, 'rps'):.0f} conn/s = {r:.2f}x")
# Without multiplexing: a full mTLS handshake per connection on Gangway's side too.
for t in ['ka16', 'ka64', 'big16', 'close16']:
    if (t, 'gw4p') in agg and (t, 'hap4') in agg:
        f = 'mbs' if t == 'big16' else 'rps'
        r = m(t, 'gw4p', f) / m(t, 'hap4', f)
        print(f"(info)   {t:8} -multiplex=false, gw4p vs hap4          {m(t, 'gw4p', f):.1f} vs {m(t, 'hap4', f):.1f} {'MB/s' if f == 'mbs' else 'req/s'} = {r:.2f}x; p99 {m(t, 'gw4p', 'p99'):.2f} vs {m(t, 'hap4', 'p99'):.2f} ms")
for gw, peer in [('gw4r', 'hap4r'), ('gw4r', 'ngx4r')]:
    if ('close16', gw) in agg and ('close16', peer) in agg:
        r = m('close16', gw, 'rps') / m('close16', peer, 'rps')
        print(f"(info)   close16 with resumption, {gw} vs {peer:14}     {m('close16', gw, 'rps'):.0f} vs {m('close16', peer, 'rps'):.0f} conn/s = {r:.2f}x")
# L7: the HTTP chain beside the L4 one (what routing each request costs) and beside HAProxy's
# HTTP mode, this run.
for t in ['ka16', 'ka64', 'big16', 'close16']:
    if (t, 'gw4h') not in agg: continue
    for other in ['gw4', 'hap4h']:
        if (t, other) not in agg: continue
        r = m(t, 'gw4h', 'rps') / m(t, other, 'rps')
        cpu_h = chain_cpu(t, 'gw4h', False) / m(t, 'gw4h', 'rps') * 1e6
        cpu_o = chain_cpu(t, other, False) / m(t, other, 'rps') * 1e6
        print(f"(L7)     {t:8} gw4h vs {other:6} {m(t, 'gw4h', 'rps'):8.0f} vs {m(t, other, 'rps'):8.0f} req/s = {r:.2f}x; "
              f"proxies' CPU {cpu_h:.1f} vs {cpu_o:.1f} us/request; p99 {m(t, 'gw4h', 'p99'):.2f} vs {m(t, other, 'p99'):.2f} ms")
for n in sorted(k for k in rss if k.startswith('gw_')):
    kb = int(rss[n])
    goal(f"peak RSS <= 10 MB (10240 kB): {n}", kb <= 10240, f"{kb} kB")
PY
[ -s $R/tls.txt ] && { echo "# TLS handshake micro-benchmark (openssl s_server/s_time, $(openssl version | cut -d" " -f1-2))"; cat $R/tls.txt; } | tee -a $R/summary.txt
cat $R/rss-split.txt $R/gangway-stats.txt >> $R/summary.txt
