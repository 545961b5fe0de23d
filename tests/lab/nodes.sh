#!/usr/bin/env bash
# The lab's registered-node machines: Debian containers on the lab network,
# reached over SSH, for the registered_node role and playbooks/nodes.yml.
#
#   nodes.sh up [N]     start N node containers (default 2), exactly N
#   nodes.sh down       remove them (the image stays cached)
#   nodes.sh status     what runs
#   nodes.sh inventory  print the path of the inventory `up` writes
#
# Node i is the container tke-lab-node-<i> at 192.168.250.(10+i), hostname
# node-192.168.250.(10+i). It runs sshd (root, key only) and holds what TKE's
# registration script would download: the API server's CA and a client
# certificate of its own (system:node:<name>, group system:nodes) in
# /etc/tke-lab. The registration script itself comes from the control host
# (tests/lab/node/tke-register.sh stands in for TKE's).
#
# Options (environment):
#   NODE_BRNF     how br_netfilter looks on the nodes: builtin, loadable or
#                 absent; one value for every node or a comma-separated list,
#                 one per node (nodes past its end are builtin). Default builtin.
#   NODE_OLD_CNI  1: nodes start with TKE's 00-multus.conf and 99-loopback.conf
#                 in /etc/cni/net.d (default 1)
#   NODE_LINK_MTU MTU of the node's link eth0 (default: the network's, 1500);
#                 one value or a comma-separated list, one per node
#   NODE_SECOND_NET 1: nodes get a second interface, eth1, on the lab's second
#                 network 192.168.251.0/24 (address .(10+i)), as machines
#                 joined over a direct connect often have (default 0)
#   NODE_SECOND_NET_MTU  MTU of eth1, as NODE_LINK_MTU is of eth0. Ansible
#                 reaches the nodes over eth0, so a tiny MTU belongs here.
#
# Every node has what a registered node's runtime installs: the CNI reference
# plugins (bridge, host-local, portmap, loopback) in /opt/cni/bin, cnitool and
# ping. Flanneld and the flannel CNI plugin come from the Flannel Pod that the
# lab daemon runs there (tests/lab/labd.py). `up` also starts the "VPC host"
# tke-lab-vpc-host at 192.168.250.200: an address outside the cluster CIDR
# with a TCP service on port 7000 that answers with the address it sees. It
# is the nodes' default gateway and forwards nothing.
#
# The lab (tests/lab/lab.sh up) must be up: its network and PKI are used.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/lab/versions.sh
source "$here/versions.sh"

NODES_STATE="$STATE/nodes"
SSH_DIR="$STATE/ssh"
SSH_KEY="$SSH_DIR/id_ed25519"
INVENTORY="$STATE/nodes-inventory.yml"
NODE_IMAGE="localhost/tke-flannel-lab-node:$NODE_IMAGE_VERSION"
NODE_ROOTFS_TAR="$LAB_CACHE/node-rootfs-bookworm-$NODE_IMAGE_VERSION.tar"
NODE_PACKAGES="openssh-server,python3,iproute2,iptables,kmod,procps,curl,ca-certificates,jq,iputils-ping"
MAX_NODES=50
SECOND_NETWORK_NAME="$NETWORK_NAME-b"
SECOND_NET_PREFIX="192.168.251"
VPC_HOST="tke-lab-vpc-host"
VPC_HOST_IP="$NODE_NET_PREFIX.200"

log() { printf '[lab nodes] %s\n' "$*" >&2; }
die() {
  printf '[lab nodes] ERROR: %s\n' "$*" >&2
  exit 1
}

# --- the image ----------------------------------------------------------------

# The Debian mirror apt uses on this machine (bookworm's main archive), read
# from apt's sources at run time so the repository names no mirror.
debian_mirror() {
  python3 - /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources <<'PY'
import os
import sys

def entries(path):
    try:
        text = open(path, encoding="utf-8").read()
    except OSError:
        return
    if path.endswith(".sources"):
        for stanza in text.split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if line.strip().startswith("#") or ":" not in line:
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.split()
            if fields.get("enabled", ["yes"])[0].lower() == "no":
                continue
            if "deb" in fields.get("types", []):
                for uri in fields.get("uris", []):
                    yield uri, fields.get("suites", [])
    else:
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) >= 3 and words[0] == "deb":
                words = [w for w in words[1:] if not w.startswith("[")]
                if len(words) >= 2:
                    yield words[0], [words[1]]

for path in sys.argv[1:]:
    for uri, suites in entries(path):
        if "bookworm" in suites:
            print(uri.rstrip("/"))
            sys.exit(0)
sys.exit(1)
PY
}

build_rootfs() {
  command -v debootstrap >/dev/null || die "debootstrap is missing: run tests/lab/setup-host.sh"
  local mirror work root start
  mirror="$(debian_mirror)" ||
    die "no Debian bookworm source in /etc/apt/sources.list{,.d}: debootstrap needs apt's mirror"
  start=$SECONDS
  mkdir -p "$LAB_CACHE"
  work="$(mktemp -d "$LAB_CACHE/node-rootfs.XXXXXX")"
  root="$work/root"
  log "building the node root file system with debootstrap from $mirror (a few minutes)"
  if ! debootstrap --variant=minbase --include="$NODE_PACKAGES" bookworm "$root" "$mirror" \
    >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    die "debootstrap failed; full log in $work/debootstrap.log"
  fi
  # sshd: root by key only; host keys are made per container at its start.
  rm -f "$root"/etc/ssh/ssh_host_*
  cat >"$root/etc/ssh/sshd_config.d/tke-lab.conf" <<'EOF'
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
EOF
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log
  tar --numeric-owner --xattrs -C "$root" -cf "$work/rootfs.tar" .
  mv "$work/rootfs.tar" "$NODE_ROOTFS_TAR"
  rm -rf "$work"
  log "built $NODE_ROOTFS_TAR in $((SECONDS - start))s"
}

ensure_image() {
  podman image exists "$NODE_IMAGE" && return 0
  [[ -s "$NODE_ROOTFS_TAR" ]] || build_rootfs
  podman import --change 'CMD ["/usr/local/sbin/tke-lab-node-init"]' \
    "$NODE_ROOTFS_TAR" "$NODE_IMAGE" >/dev/null
  log "imported $NODE_IMAGE"
}

# --- credentials ----------------------------------------------------------------

ensure_ssh_key() {
  mkdir -p "$SSH_DIR"
  chmod 0700 "$SSH_DIR"
  if [[ ! -s "$SSH_KEY" ]]; then
    ssh-keygen -q -t ed25519 -N '' -C tke-flannel-lab -f "$SSH_KEY"
  fi
  cp "$SSH_KEY.pub" "$SSH_DIR/authorized_keys"
}

# node_credentials NAME: the CA and a client certificate for NAME, as TKE's
# registration script would download them. The identity is the kubelet's
# (system:node:NAME in system:nodes): the API server's Node authorizer lets
# it create and update Node objects, and nothing more is needed.
node_credentials() {
  local name="$1" dir="$NODES_STATE/$1"
  mkdir -p "$dir"
  cp "$PKI/ca.crt" "$dir/ca.crt"
  [[ -s "$dir/node.crt" ]] && return 0
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/node.key" -subj "/O=system:nodes/CN=system:node:$name" \
    -out "$dir/node.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=clientAuth" >"$dir/node.ext"
  openssl x509 -req -in "$dir/node.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 3650 -sha256 -extfile "$dir/node.ext" -out "$dir/node.crt" 2>/dev/null
  rm -f "$dir/node.csr" "$dir/node.ext"
  echo "https://$GATEWAY_IP:6443" >"$dir/apiserver"
}

# --- containers -----------------------------------------------------------------

node_ip() { echo "$NODE_NET_PREFIX.$((10 + $1))"; }

# per_node VAR I DEFAULT: node I's value of option VAR, which holds one value
# for every node or a comma-separated list, one per node (DEFAULT past its end).
per_node() {
  local -a values
  IFS=',' read -r -a values <<<"${!1:-}"
  if ((${#values[@]} == 1)); then
    echo "${values[0]}"
  else
    echo "${values[$2 - 1]:-$3}"
  fi
}

# brnf_of I: the br_netfilter variant of node I from NODE_BRNF.
brnf_of() {
  local mode
  mode="$(per_node NODE_BRNF "$1" builtin)"
  case "${mode:-builtin}" in
    builtin | loadable | absent) echo "${mode:-builtin}" ;;
    *) die "NODE_BRNF: '$mode' is not builtin, loadable or absent" ;;
  esac
}

# mtu_of VAR I: node I's MTU from option VAR, or "" for the network's.
mtu_of() {
  local mtu
  mtu="$(per_node "$1" "$2" "")"
  if [[ -n "$mtu" ]] && ! [[ "$mtu" =~ ^[0-9]+$ && "$mtu" -ge 68 && "$mtu" -le 9000 ]]; then
    die "$1: '$mtu' is not an MTU from 68 to 9000"
  fi
  echo "$mtu"
}

lab_containers() {
  podman ps -a --filter label=tke-flannel-lab=node --format '{{.Names}}' | sort -V
}

label_of() {
  podman container inspect --format "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null
}

# generation: what a node container was made from (the lab's CA, the SSH key,
# the image). A lab that was taken down and up again has a new CA and key:
# containers of the old one are recreated.
generation() {
  cat "$PKI/ca.crt" "$SSH_KEY.pub" <(echo "$NODE_IMAGE") | sha256sum | cut -c1-16
}

start_node() {
  local i="$1" brnf="$2" old_cni="$3" gen="$4" mtu="$5" second="$6" mtu2="$7"
  local cname="tke-lab-node-$i" ip name
  ip="$(node_ip "$i")"
  name="node-$ip"
  if podman container exists "$cname"; then
    if [[ "$(label_of "$cname" tke-flannel-lab.brnf)" == "$brnf" &&
      "$(label_of "$cname" tke-flannel-lab.old-cni)" == "$old_cni" &&
      "$(label_of "$cname" tke-flannel-lab.mtu)" == "$mtu" &&
      "$(label_of "$cname" tke-flannel-lab.second-net)" == "$second" &&
      "$(label_of "$cname" tke-flannel-lab.second-net-mtu)" == "$mtu2" &&
      "$(label_of "$cname" tke-flannel-lab.generation)" == "$gen" &&
      -s "$NODES_STATE/$name/node.crt" ]]; then
      if [[ "$(podman container inspect --format '{{.State.Running}}' "$cname")" != true ]]; then
        podman start "$cname" >/dev/null
        log "started $cname"
      fi
      return 0
    fi
    log "$cname is of another variant or an earlier lab: recreating it"
    podman rm -f -t 0 "$cname" >/dev/null
  fi
  node_credentials "$name"
  local -a opts=(
    --detach --name "$cname" --hostname "$name"
    --network "$NETWORK_NAME:ip=$ip,interface_name=eth0"
    --privileged --init
    --label tke-flannel-lab=node
    --label "tke-flannel-lab.node-name=$name"
    --label "tke-flannel-lab.brnf=$brnf"
    --label "tke-flannel-lab.old-cni=$old_cni"
    --label "tke-flannel-lab.mtu=$mtu"
    --label "tke-flannel-lab.second-net=$second"
    --label "tke-flannel-lab.second-net-mtu=$mtu2"
    --label "tke-flannel-lab.generation=$gen"
    --env "LAB_NODE_BRNF=$brnf"
    --env "LAB_NODE_LINK_MTU=$mtu"
    --env "LAB_NODE_SECOND_NET_MTU=$mtu2"
    --env "LAB_NODE_GATEWAY=$VPC_HOST_IP"
    --volume "$here/node/init.sh:/usr/local/sbin/tke-lab-node-init:ro"
    --volume "$SSH_DIR/authorized_keys:/run/tke-lab-ssh/authorized_keys:ro"
    --volume "$NODES_STATE/$name:/etc/tke-lab:ro"
    --volume "$CNI_PLUGINS_DIR:/usr/local/lib/tke-lab/cni-plugins:ro"
    --volume "$CNITOOL_DIR:/usr/local/lib/tke-lab/cnitool:ro"
  )
  if [[ "$second" == 1 ]]; then
    opts+=(--network "$SECOND_NETWORK_NAME:ip=$SECOND_NET_PREFIX.$((10 + i)),interface_name=eth1")
  fi
  if [[ "$brnf" != builtin ]]; then
    opts+=(--volume "$here/node/modprobe:/usr/local/lib/tke-lab/modprobe:ro")
  fi
  if [[ "$old_cni" == 1 ]]; then
    opts+=(--volume "$here/node/cni:/usr/local/lib/tke-lab/cni:ro")
  fi
  podman run "${opts[@]}" "$NODE_IMAGE" >/dev/null
  log "created $cname ($ip, br_netfilter $brnf)"
}

wait_ssh() {
  local ip="$1" t=0
  until ssh -i "$SSH_KEY" -o BatchMode=yes -o ConnectTimeout=2 \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    "root@$ip" true 2>/dev/null; do
    sleep 0.5
    t=$((t + 1))
    ((t < 60)) || die "sshd on $ip did not answer within 30s; see: podman logs $2"
  done
}

write_inventory() {
  local cname ip
  {
    echo "# Written by tests/lab/nodes.sh: the lab's registered-node containers."
    echo "registered_nodes:"
    echo "  hosts:"
    for cname in $(lab_containers); do
      ip="$(node_ip "${cname##*-}")"
      echo "    node-$ip:"
      echo "      ansible_host: $ip"
    done
    echo "  vars:"
    echo "    ansible_user: root"
    echo "    ansible_ssh_private_key_file: $SSH_KEY"
    echo "    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    echo "    ansible_python_interpreter: /usr/bin/python3"
  } >"$INVENTORY"
}

up() {
  local count="${1:-2}" i cname gen
  if ! [[ "$count" =~ ^[0-9]+$ ]] || ((count < 1 || count > MAX_NODES)); then
    die "up takes a number of nodes from 1 to $MAX_NODES, not '$count'"
  fi
  # Every option is checked before any container is touched: die in a
  # command substitution would only end that subshell.
  local -a brnf mtu mtu2
  local second="${NODE_SECOND_NET:-0}" old_cni="${NODE_OLD_CNI:-1}"
  [[ "$second" == 0 || "$second" == 1 ]] || die "NODE_SECOND_NET: '$second' is not 0 or 1"
  [[ "$old_cni" == 0 || "$old_cni" == 1 ]] || die "NODE_OLD_CNI: '$old_cni' is not 0 or 1"
  if [[ "$second" == 0 && -n "${NODE_SECOND_NET_MTU:-}" ]]; then
    die "NODE_SECOND_NET_MTU is set but NODE_SECOND_NET is not 1: there is no eth1 to give it to"
  fi
  for ((i = 1; i <= count; i++)); do
    brnf[i]="$(brnf_of "$i")" || exit 1
    mtu[i]="$(mtu_of NODE_LINK_MTU "$i")" || exit 1
    mtu2[i]="$(mtu_of NODE_SECOND_NET_MTU "$i")" || exit 1
  done
  if [[ ! -s "$PKI/ca.key" ]] || ! podman network exists "$NETWORK_NAME" 2>/dev/null; then
    die "the lab is not up (no $PKI/ca.key or podman network $NETWORK_NAME): run tests/lab/lab.sh up"
  fi
  ensure_image
  ensure_ssh_key
  gen="$(generation)"
  for cname in $(lab_containers); do
    if ((${cname##*-} > count)); then
      podman rm -f -t 0 "$cname" >/dev/null
      log "removed $cname (more than $count nodes)"
    fi
  done
  if [[ "$second" == 1 ]] && ! podman network exists "$SECOND_NETWORK_NAME"; then
    podman network create --internal --subnet "$SECOND_NET_PREFIX.0/24" \
      "$SECOND_NETWORK_NAME" >/dev/null
  fi
  for ((i = 1; i <= count; i++)); do
    start_node "$i" "${brnf[i]}" "$old_cni" "$gen" "${mtu[i]}" "$second" "${mtu2[i]}"
  done
  start_vpc_host
  for ((i = 1; i <= count; i++)); do
    wait_ssh "$(node_ip "$i")" "tke-lab-node-$i"
  done
  write_inventory
  log "$count node(s) up; inventory: $INVENTORY"
}

# The "VPC host": a machine of the VPC outside the cluster CIDR. Its TCP
# service on port 7000 answers each connection with the peer address it sees,
# so a test can tell whether a Pod's traffic left its node masqueraded.
start_vpc_host() {
  if [[ "$(podman container inspect --format '{{.State.Running}}' "$VPC_HOST" 2>/dev/null)" == true ]]; then
    return 0
  fi
  podman rm -f -t 0 "$VPC_HOST" >/dev/null 2>&1 || true
  podman run --detach --name "$VPC_HOST" --hostname vpc-host \
    --network "$NETWORK_NAME:ip=$VPC_HOST_IP" --init \
    --label tke-flannel-lab=vpc-host \
    --sysctl net.ipv4.ip_forward=0 \
    "$NODE_IMAGE" python3 -c '
import socketserver

class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(("seen-from " + self.client_address[0] + "\n").encode())

socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("0.0.0.0", 7000), Echo).serve_forever()
' >/dev/null
  log "started $VPC_HOST ($VPC_HOST_IP, port 7000)"
}

down() {
  local cname
  for cname in $(lab_containers); do
    podman rm -f -t 0 "$cname" >/dev/null
    log "removed $cname"
  done
  podman rm -f -t 0 "$VPC_HOST" >/dev/null 2>&1 || true
  if podman network exists "$SECOND_NETWORK_NAME" 2>/dev/null; then
    podman network rm "$SECOND_NETWORK_NAME" >/dev/null
  fi
  rm -rf "$NODES_STATE" "$INVENTORY"
}

status() {
  local cname any=0
  for cname in $(lab_containers); do
    any=1
    printf '%-16s %-22s %-8s br_netfilter=%s mtu=%s second-net=%s\n' "$cname" \
      "node-$(node_ip "${cname##*-}")" \
      "$(podman container inspect --format '{{.State.Status}}' "$cname")" \
      "$(label_of "$cname" tke-flannel-lab.brnf)" \
      "$(label_of "$cname" tke-flannel-lab.mtu)" \
      "$(label_of "$cname" tke-flannel-lab.second-net)"
  done
  ((any)) || echo "no lab node containers"
  if podman image exists "$NODE_IMAGE"; then echo "image $NODE_IMAGE present"; fi
}

case "${1:-}" in
  up) up "${2:-2}" ;;
  down) down ;;
  status) status ;;
  inventory) echo "$INVENTORY" ;;
  *)
    echo "usage: $0 up [N]|down|status|inventory" >&2
    exit 2
    ;;
esac
