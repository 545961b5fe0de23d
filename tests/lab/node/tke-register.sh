#!/usr/bin/env bash
# Stand-in for the script the TKE console hands out to add a third-party
# machine to a cluster as a registered node (tke.flannel lab). It has the
# shape of TKE's script: settings at the top, one function per check, a
# `check` function that calls them, then `register`, and `main` that runs
# check then register. Its own text; it does what the lab needs: it creates
# the Node object node-<ip> through the lab's API server.
#
# Usage: tke-register.sh --token TOKEN [--apiserver URL] [--credentials DIR]
#
# The lab places the API server's CA and this machine's client certificate in
# /etc/tke-lab (tests/lab/nodes.sh), as TKE's script downloads its own.

set -o errexit -o nounset -o pipefail

# --- settings ---------------------------------------------------------------
CLUSTER_ID="cls-tkelab01"
REGION="ap-guangzhou"
TOKEN="${TKE_REGISTER_TOKEN:-}"
CREDENTIALS_DIR="/etc/tke-lab"
APISERVER=""
SUPPORTED_OS="tencentos:2.4 tencentos:3.1 tencentos:3.2 centos:7 centos:8 ubuntu:18.04 ubuntu:20.04 ubuntu:22.04"
SUPPORTED_KERNEL_RE='^(3\.10\.0-[0-9]+|4\.14\.105-[0-9]+|5\.4\.119-[0-9]+|5\.4\.241-[0-9]+)\.'
REQUIRED_PORTS="10250 10256"
STATE_DIR="/var/lib/tke-register"
ENI_TAINT="tke.cloud.tencent.com/eni-ip-unavailable"

log() { printf '[tke-register] %s\n' "$*"; }
fatal() {
  printf '[tke-register] ERROR: %s\n' "$*" >&2
  exit 1
}

usage() {
  echo "usage: $0 --token TOKEN [--apiserver URL] [--credentials DIR]" >&2
  exit 2
}

parse_args() {
  while (($#)); do
    case "$1" in
      --token)
        TOKEN="${2:-}"
        shift 2 || usage
        ;;
      --token=*)
        TOKEN="${1#--token=}"
        shift
        ;;
      --apiserver)
        APISERVER="${2:-}"
        shift 2 || usage
        ;;
      --credentials)
        CREDENTIALS_DIR="${2:-}"
        shift 2 || usage
        ;;
      -h | --help) usage ;;
      *) fatal "unknown argument $1" ;;
    esac
  done
  if [[ -z "$APISERVER" && -s "$CREDENTIALS_DIR/apiserver" ]]; then
    APISERVER="$(cat "$CREDENTIALS_DIR/apiserver")"
  fi
}

# --- checks -----------------------------------------------------------------

check_os() {
  local id version
  # shellcheck disable=SC1091 # the machine's own file
  id="$(. /etc/os-release && echo "${ID:-unknown}")"
  # shellcheck disable=SC1091
  version="$(. /etc/os-release && echo "${VERSION_ID:-unknown}")"
  case " $SUPPORTED_OS " in
    *" $id:$version "*) log "os $id $version: supported" ;;
    *) fatal "os $id $version is not supported (supported: $SUPPORTED_OS)" ;;
  esac
}

check_kernel() {
  local kernel
  kernel="$(uname -r)"
  if [[ ! "$kernel" =~ $SUPPORTED_KERNEL_RE ]]; then
    fatal "kernel $kernel is not supported; use a kernel of a supported OS image"
  fi
  log "kernel $kernel: supported"
}

check_swap() {
  if [[ -r /proc/swaps ]] && (($(wc -l </proc/swaps) > 1)); then
    fatal "swap is on; turn it off (swapoff -a) and remove it from /etc/fstab"
  fi
  log "swap: off"
}

check_port() {
  local port
  for port in $REQUIRED_PORTS; do
    if ss -Htln "sport = :$port" | grep -q .; then
      fatal "port $port is in use; the kubelet and kube-proxy need it"
    fi
  done
  log "ports $REQUIRED_PORTS: free"
}

check_hostname() {
  local name
  name="$(hostname)"
  if [[ ! "$name" =~ ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$ ]]; then
    fatal "hostname $name is not a valid node name (lower case letters, digits, '-' and '.')"
  fi
  log "hostname $name: valid"
}

check_token() {
  [[ -n "$TOKEN" ]] || fatal "no token: pass --token with the token shown in the console"
  log "token: present"
}

check_credentials() {
  local f
  for f in ca.crt node.crt node.key; do
    [[ -s "$CREDENTIALS_DIR/$f" ]] || fatal "$CREDENTIALS_DIR/$f is missing"
  done
  [[ -n "$APISERVER" ]] || fatal "no API server address: pass --apiserver"
  log "credentials: present"
}

check() {
  check_os
  check_kernel || exit 1
  check_swap
  if ! check_port; then
    exit 1
  fi
  check_hostname && check_token
  check_credentials
}

# --- registration -----------------------------------------------------------

# node_ip: this machine's address towards the API server.
node_ip() {
  local host
  host="${APISERVER#https://}"
  host="${host%%[:/]*}"
  ip -4 -o route get "$host" | sed -n 's/.* src \([0-9.]*\).*/\1/p'
}

api() {
  # api METHOD PATH [CONTENT-TYPE BODY]: prints the body, returns curl's status
  local method="$1" path="$2"
  local -a args=(--silent --show-error --fail-with-body --max-time 20
    --cacert "$CREDENTIALS_DIR/ca.crt"
    --cert "$CREDENTIALS_DIR/node.crt" --key "$CREDENTIALS_DIR/node.key"
    -X "$method")
  if (($# > 2)); then
    args+=(-H "Content-Type: $3" --data-binary "$4")
  fi
  curl "${args[@]}" "$APISERVER$path"
}

install() {
  mkdir -p "$STATE_DIR"
  printf 'cluster=%s\nregion=%s\nnode=%s\nregistered=%s\n' \
    "$CLUSTER_ID" "$REGION" "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$STATE_DIR/registered"
}

register() {
  local ip name node addresses
  ip="$(node_ip)"
  [[ -n "$ip" ]] || fatal "no IPv4 address towards $APISERVER"
  name="node-$ip"
  addresses="{\"addresses\": [{\"type\": \"InternalIP\", \"address\": \"$ip\"}, {\"type\": \"Hostname\", \"address\": \"$name\"}]}"
  node=$(
    cat <<EOF
{"apiVersion": "v1", "kind": "Node",
 "metadata": {"name": "$name", "labels": {
   "kubernetes.io/hostname": "$name", "kubernetes.io/os": "linux",
   "kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "external",
   "topology.kubernetes.io/region": "$REGION"}},
 "spec": {"taints": [{"key": "$ENI_TAINT", "effect": "NoSchedule"}]},
 "status": $addresses}
EOF
  )
  if api GET "/api/v1/nodes/$name" >/dev/null 2>&1; then
    log "node $name already exists"
  else
    api POST /api/v1/nodes application/json "$node" >/dev/null ||
      fatal "could not create node $name"
    log "created node $name"
  fi
  # As the kubelet does, the addresses go with the Node and again in its status.
  api PATCH "/api/v1/nodes/$name/status" application/merge-patch+json "{\"status\": $addresses}" >/dev/null ||
    fatal "could not set the addresses of node $name"
  install "$name"
  log "node $name registered to cluster $CLUSTER_ID"
}

main() {
  parse_args "$@"
  check
  register
}

main "$@"
