#!/usr/bin/env bash
# The tke.flannel lab: a TKE VPC-CNI cluster on one machine.
#
#   lab.sh up      build (cached) and start everything, seed TKE's objects
#   lab.sh status  what runs, and what the cluster holds
#   lab.sh down    stop every process the lab started and remove its files
#   nodes.sh up [N]|down|status   registered-node machines (containers, SSH)
#
# Options (environment):
#   LAB_REGISTERED_NODES   registered Node objects to seed (default 2)
#   LAB_SUPER_NODE         1: also seed a super node (eklet)        (default 0)
#   LAB_IP_MASQ_AGENT      1: also seed ip-masq-agent               (default 0)
#   LAB_ORDINARY_NODE      1: also seed an ordinary (CVM) node      (default 0)
#   LAB_WEBHOOK_TIED_TO_IPAMD  1: the ENI-IP webhook backend answers only
#                          while tke-eni-ipamd has replicas, as where the
#                          backend runs in the cluster              (default 0)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/lab/versions.sh
source "$here/versions.sh"

RUN="$STATE/run"
LOGS="$STATE/logs"
SERVICE_CIDR="10.96.0.0/16"
SERVICE_IP="10.96.0.1"
APISERVER_PORT=6443
ETCD_CLIENT_PORT=23790
ETCD_PEER_PORT=23800
WEBHOOK_PORT=9443
CHART_REPO_PORT=8879

log() { printf '[lab] %s\n' "$*" >&2; }
die() {
  printf '[lab] ERROR: %s\n' "$*" >&2
  exit 1
}

# --- certificates -----------------------------------------------------------

# issue NAME CN ORG [SANS]: a key and a certificate signed by the lab CA.
issue() {
  local name="$1" cn="$2" org="$3" sans="${4:-}"
  [[ -s "$PKI/$name.crt" ]] && return 0
  local subj="/CN=$cn"
  [[ -n "$org" ]] && subj="/O=$org$subj"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" \
    -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  local ext="$PKI/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n "$sans" ]]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=$sans"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } >"$ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 3650 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

kubeconfig() {
  # kubeconfig FILE USER CERTNAME
  local file="$1" user="$2" cert="$3"
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: tke-lab
  cluster:
    certificate-authority: $PKI/ca.crt
    server: https://127.0.0.1:$APISERVER_PORT
users:
- name: $user
  user:
    client-certificate: $PKI/$cert.crt
    client-key: $PKI/$cert.key
contexts:
- name: tke-lab
  context:
    cluster: tke-lab
    user: $user
current-context: tke-lab
EOF
}

make_pki() {
  mkdir -p "$PKI"
  if [[ ! -s "$PKI/ca.crt" ]]; then
    openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" \
      -subj "/CN=tke-lab-ca" -days 3650 -out "$PKI/ca.crt" 2>/dev/null
  fi
  issue apiserver kube-apiserver "" \
    "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$GATEWAY_IP,IP:$SERVICE_IP"
  issue webhook tke-eni-ip-webhook "" "DNS:localhost,IP:127.0.0.1"
  issue chart-repo tke-lab-charts "" "DNS:localhost,IP:127.0.0.1"
  issue admin lab-admin system:masters
  # The collection's own identity: its requests stand apart in the audit log.
  issue tke-flannel tke-flannel system:masters
  issue controller-manager system:kube-controller-manager ""
  issue scheduler system:kube-scheduler ""
  issue kwok lab-kwok system:masters
  issue labd lab-daemon system:masters
  if [[ ! -s "$PKI/sa.key" ]]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  kubeconfig "$STATE/admin.kubeconfig" lab-admin admin
  kubeconfig "$STATE/tke-flannel.kubeconfig" tke-flannel tke-flannel
  kubeconfig "$STATE/controller-manager.kubeconfig" kube-controller-manager controller-manager
  kubeconfig "$STATE/scheduler.kubeconfig" kube-scheduler scheduler
  kubeconfig "$STATE/kwok.kubeconfig" lab-kwok kwok
  kubeconfig "$STATE/labd.kubeconfig" lab-daemon labd
  # Node containers reach the API server on the lab network's gateway.
  sed "s#https://127.0.0.1:#https://$GATEWAY_IP:#" "$STATE/admin.kubeconfig" \
    >"$STATE/node-admin.kubeconfig"
}

# --- processes --------------------------------------------------------------

alive() { [[ -s "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

# start NAME CMD...: run CMD detached in its own session, log to $LOGS/NAME.log
start() {
  local name="$1"
  shift
  if alive "$name"; then
    log "$name already running (pid $(cat "$RUN/$name.pid"))"
    return 0
  fi
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
  log "started $name (pid $!)"
}

wait_for() {
  # wait_for WHAT SECONDS CMD...
  local what="$1" timeout="$2"
  shift 2
  local t=0
  until "$@" >/dev/null 2>&1; do
    sleep 1
    t=$((t + 1))
    if ((t >= timeout)); then
      die "$what did not come up within ${timeout}s; see $LOGS"
    fi
  done
}

api_ready() {
  curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz" | grep -q ok
}

ensure_network() {
  command -v podman >/dev/null || die "podman is missing: run tests/lab/setup-host.sh"
  if ! podman network exists "$NETWORK_NAME" 2>/dev/null; then
    podman network create --internal --subnet "$NETWORK_SUBNET" --gateway "$GATEWAY_IP" \
      "$NETWORK_NAME" >/dev/null
    log "created podman network $NETWORK_NAME ($NETWORK_SUBNET, internal)"
  fi
}

up() {
  mkdir -p "$STATE" "$RUN" "$LOGS"
  bash "$here/build.sh"
  make_pki
  ensure_network

  start etcd "$ETCD_DIR/etcd" --name lab --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "lab=http://127.0.0.1:$ETCD_PEER_PORT" \
    --listen-metrics-urls "" --log-level warn
  wait_for etcd 60 curl -sf "http://127.0.0.1:$ETCD_CLIENT_PORT/health"

  cp "$here/audit-policy.yaml" "$STATE/audit-policy.yaml"
  # Limitation: the API server binds every address, not only loopback and the
  # lab gateway: the gateway address exists only once a node container has
  # started on the lab network, and --bind-address takes a single address.
  start kube-apiserver "$K8S_DIR/kube-apiserver" \
    --bind-address 0.0.0.0 --secure-port "$APISERVER_PORT" \
    --advertise-address "$GATEWAY_IP" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --client-ca-file "$PKI/ca.crt" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --service-account-key-file "$PKI/sa.pub" \
    --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer https://kubernetes.default.svc \
    --authorization-mode Node,RBAC --allow-privileged=true \
    --audit-policy-file "$STATE/audit-policy.yaml" \
    --audit-log-path "$STATE/audit.log" --audit-log-format json \
    --audit-log-maxsize 200 --audit-log-maxbackup 1
  wait_for kube-apiserver 120 api_ready

  start kube-controller-manager "$K8S_DIR/kube-controller-manager" \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false \
    --allocate-node-cidrs=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file "$PKI/sa.key" \
    --root-ca-file "$PKI/ca.crt" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --node-monitor-grace-period 60s
  start kube-scheduler "$K8S_DIR/kube-scheduler" \
    --kubeconfig "$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false
  start kwok "$KWOK_DIR/kwok" \
    --kubeconfig "$STATE/kwok.kubeconfig" \
    --config "$here/kwok/node-ready.yaml" \
    --config "$here/kwok/pod-running.yaml" \
    --config "$here/kwok/pod-delete.yaml" \
    --manage-all-nodes=true \
    --node-lease-duration-seconds 40 \
    --server-address "127.0.0.1:10247"

  bash "$here/charts/build-repo.sh" "$HELM_DIR/helm" "$STATE/charts"
  local podcidr_bin="${LAB_PODCIDR_CONTROLLER_BIN:-$PODCIDR_DIR/podcidr-controller}"
  start labd python3 "$here/labd.py" \
    --state "$STATE" \
    --kubeconfig "$STATE/labd.kubeconfig" \
    --webhook-port "$WEBHOOK_PORT" \
    --webhook-tied-to-ipamd "${LAB_WEBHOOK_TIED_TO_IPAMD:-0}" \
    --chart-repo-port "$CHART_REPO_PORT" --chart-repo-dir "$STATE/charts" \
    --podcidr-controller-bin "$podcidr_bin" \
    --flanneld-bin "$FLANNEL_DIR/flanneld" \
    --cni-flannel-bin "$CNI_FLANNEL_DIR/flannel" \
    --node-apiserver "$GATEWAY_IP:$APISERVER_PORT"
  wait_for "lab daemon" 30 curl -sf --cacert "$PKI/ca.crt" \
    "https://127.0.0.1:$WEBHOOK_PORT/healthz"

  python3 "$here/seed.py" --kubeconfig "$STATE/admin.kubeconfig" \
    --webhook-url "https://127.0.0.1:$WEBHOOK_PORT/mutate" \
    --ca-file "$PKI/ca.crt" \
    --registered-nodes "${LAB_REGISTERED_NODES:-2}" \
    --super-node "${LAB_SUPER_NODE:-0}" \
    --ip-masq-agent "${LAB_IP_MASQ_AGENT:-0}" \
    --ordinary-node "${LAB_ORDINARY_NODE:-0}"
  write_env "$podcidr_bin"
  log "lab is up: export KUBECONFIG=$STATE/admin.kubeconfig"
}

write_env() {
  cat >"$STATE/lab.env" <<EOF
# Written by tests/lab/lab.sh up; read by inventories/lab and the tests.
LAB_STATE=$STATE
LAB_KUBECONFIG=$STATE/tke-flannel.kubeconfig
LAB_ADMIN_KUBECONFIG=$STATE/admin.kubeconfig
LAB_AUDIT_LOG=$STATE/audit.log
LAB_CHART_REPO=http://127.0.0.1:$CHART_REPO_PORT
LAB_HELM=$HELM_DIR/helm
LAB_HELM_PLUGINS=$STATE/helm-plugins
LAB_GATEWAY_IP=$GATEWAY_IP
LAB_SERVICE_CIDR=$SERVICE_CIDR
LAB_PODCIDR_CONTROLLER_BIN=$1
EOF
  # helm-diff laid out as a helm plugin, for kubernetes.core.helm.
  local plug="$STATE/helm-plugins/diff"
  mkdir -p "$plug/bin"
  ln -sf "$HELM_DIFF_DIR/diff" "$plug/bin/diff"
  cat >"$plug/plugin.yaml" <<EOF
name: diff
version: ${HELM_DIFF_VERSION#v}
usage: Preview helm upgrade changes as a diff
description: Preview helm upgrade changes as a diff (built by the tke.flannel lab)
useTunnel: true
command: \$HELM_PLUGIN_DIR/bin/diff
EOF
}

status() {
  local rc=0 n
  for n in etcd kube-apiserver kube-controller-manager kube-scheduler kwok labd; do
    if alive "$n"; then
      printf '%-24s running (pid %s)\n' "$n" "$(cat "$RUN/$n.pid")"
    else
      printf '%-24s stopped\n' "$n"
      rc=1
    fi
  done
  bash "$here/nodes.sh" status || true
  if [[ -s "$STATE/labd.status" ]]; then cat "$STATE/labd.status"; fi
  if api_ready 2>/dev/null; then
    python3 "$here/seed.py" --kubeconfig "$STATE/admin.kubeconfig" --status
  fi
  return $rc
}

stop() {
  local name="$1" pid
  [[ -s "$RUN/$name.pid" ]] || return 0
  pid="$(cat "$RUN/$name.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    # Each was started in a session of its own: end that process group.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local t=0
    while kill -0 "$pid" 2>/dev/null && ((t < 50)); do
      sleep 0.2
      t=$((t + 1))
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    log "stopped $name (pid $pid)"
  fi
  rm -f "$RUN/$name.pid"
}

down() {
  local n
  for n in labd kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    stop "$n"
  done
  bash "$here/nodes.sh" down || true
  if command -v podman >/dev/null && podman network exists "$NETWORK_NAME" 2>/dev/null; then
    podman network rm -f "$NETWORK_NAME" >/dev/null
    log "removed podman network $NETWORK_NAME"
  fi
  rm -rf "$STATE"
  log "lab is down"
}

case "${1:-}" in
  up) up ;;
  status) status ;;
  down) down ;;
  *)
    echo "usage: $0 up|status|down" >&2
    exit 2
    ;;
esac
