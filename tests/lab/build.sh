#!/usr/bin/env bash
# Build the lab's binaries from their Go modules, once per version.
#
# Everything lands in "$LAB_CACHE/bin-<component>-<version>/", outside the
# repository, so a second run (and CI on a warm machine) finds them and
# returns in seconds. Each component is built only if its directory is
# missing; a partial build never leaves a directory behind.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/lab/versions.sh
source "$here/versions.sh"

mkdir -p "$LAB_CACHE"
export GOFLAGS="${GOFLAGS:--buildvcs=false} -mod=mod"
export CGO_ENABLED=0
# Two cores: let go use both, but no more.
export GOMAXPROCS="${GOMAXPROCS:-2}"

log() { printf '[lab build] %s\n' "$*" >&2; }

# build_into DIR CMD...: run CMD in a scratch module dir, then move the
# resulting bin/ to DIR atomically.
build_into() {
  local dest="$1"
  shift
  if [[ -d "$dest" ]]; then
    log "cached: $dest"
    return 0
  fi
  local work
  work="$(mktemp -d "$LAB_CACHE/.build.XXXXXX")"
  log "building $(basename "$dest") in $work"
  local start=$SECONDS
  # Each step is checked explicitly: errexit does not reach a function that
  # runs inside a condition, as the optional podcidr-controller build does.
  if ! (cd "$work" && mkdir -p bin && "$@") || [[ -z "$(ls -A "$work/bin")" ]]; then
    rm -rf "$work"
    log "failed to build $(basename "$dest")"
    return 1
  fi
  mv "$work/bin" "$dest"
  rm -rf "$work"
  log "built $(basename "$dest") in $((SECONDS - start))s"
}

# Kubernetes: k8s.io/kubernetes replaces its k8s.io/* staging modules with
# local paths, which a dependent module cannot use. A wrapper module requires
# it and pins each staging module to the matching v0.x release.
build_kubernetes() {
  local minor="${K8S_VERSION#v1.}"
  local staging="v0.${minor}"
  go mod init lab.invalid/kubernetes >/dev/null 2>&1
  local modfile
  modfile="$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  # Every "k8s.io/x => ./staging/src/k8s.io/x" line becomes a pin to v0.x.
  local replaces
  replaces="$(sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/src/.*#\1#p' "$modfile")"
  {
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
    echo "replace ("
    for m in $replaces; do echo "  $m => $m $staging"; done
    echo ")"
  } >>go.mod
  go mod download k8s.io/kubernetes
  local ld="-s -w"
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X ${pkg}.gitVersion=${K8S_VERSION}"
    ld+=" -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor%%.*}"
    ld+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
  done
  go build -ldflags "$ld" -o bin/ \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler
}

# etcd: the server module has the whole program in etcdmain; its main
# package lives in the repository's root module, which is not published,
# so a one-line main calls it.
build_etcd() {
  go mod init lab.invalid/etcd >/dev/null 2>&1
  cat >main.go <<'EOF'
// Command etcd runs go.etcd.io/etcd/server/v3/etcdmain for the tke.flannel lab.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
  go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
  go build -ldflags "-s -w" -o bin/etcd .
}

build_go_install() {
  # build_go_install MODULE@VERSION [PACKAGE] [NAME]: `go install pkg@version`
  # asks the proxy for the module's version list, which it may refuse even
  # where it serves the version; a scratch module that requires it does not.
  local modver="$1" pkg="${2:-${1%@*}}" name="${3:-}"
  go mod init lab.invalid/build >/dev/null 2>&1 || return 1
  go get "$modver" || return 1
  go build -ldflags "-s -w" -o "bin/${name:-$(basename "$pkg")}" "$pkg" || return 1
}

build_helm() {
  build_go_install "helm.sh/helm/v3@${HELM_VERSION}" helm.sh/helm/v3/cmd/helm
}

build_helm_diff() {
  build_go_install "github.com/databus23/helm-diff/v3@${HELM_DIFF_VERSION}" \
    github.com/databus23/helm-diff/v3 diff
}

build_kwok() {
  build_go_install "sigs.k8s.io/kwok@${KWOK_VERSION}" sigs.k8s.io/kwok/cmd/kwok
}

# flanneld, as the flannel image runs it: with cgo (its udp backend needs it),
# linked statically for the node containers, version stamped as its Makefile
# does. Its tencentvpc backend imports tencentcloud-sdk-go's vpc module at
# v1.3.149, which the Go module proxy does not serve; the lab pins the served
# v1.0.1000 of that module, which has every call the backend makes. The lab
# uses the vxlan backend only.
build_flannel() {
  go mod init lab.invalid/flannel >/dev/null 2>&1 || return 1
  go mod edit -replace "${TENCENT_VPC_SDK}=${TENCENT_VPC_SDK}@v1.0.1000" || return 1
  go get "github.com/flannel-io/flannel@${FLANNEL_VERSION}" || return 1
  CGO_ENABLED=1 go build -tags osusergo,netgo \
    -ldflags "-s -w -extldflags -static -X github.com/flannel-io/flannel/pkg/version.Version=${FLANNEL_VERSION}" \
    -o bin/flanneld github.com/flannel-io/flannel || return 1
}
TENCENT_VPC_SDK="github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc"

# The CNI reference plugins the flannel chain delegates to, plus loopback.
build_cni_plugins() {
  local p
  go mod init lab.invalid/cni-plugins >/dev/null 2>&1 || return 1
  go get "github.com/containernetworking/plugins@${CNI_PLUGINS_VERSION}" || return 1
  for p in main/bridge main/loopback ipam/host-local meta/portmap; do
    go build -ldflags "-s -w" -o "bin/$(basename "$p")" \
      "github.com/containernetworking/plugins/plugins/$p" || return 1
  done
}

build_cni_flannel() {
  build_go_install "github.com/containernetworking/plugins@${CNI_FLANNEL_PLUGIN_VERSION}" \
    github.com/containernetworking/plugins/plugins/meta/flannel
}

build_cnitool() {
  build_go_install "github.com/containernetworking/cni@${CNI_VERSION}" \
    github.com/containernetworking/cni/cnitool
}

# podcidr-controller is built only when the module proxy serves it; the lab
# reports its absence instead of replacing it (see "The lab" in README.md).
build_podcidr_controller() {
  build_go_install "github.com/imroc/podcidr-controller@${PODCIDR_CONTROLLER_VERSION}"
}

want="${*:-etcd helm helm-diff kwok kubernetes podcidr-controller flannel cni-plugins cni-flannel cnitool}"
for c in $want; do
  case "$c" in
    etcd) build_into "$ETCD_DIR" build_etcd ;;
    helm) build_into "$HELM_DIR" build_helm ;;
    helm-diff) build_into "$HELM_DIFF_DIR" build_helm_diff ;;
    kwok) build_into "$KWOK_DIR" build_kwok ;;
    kubernetes) build_into "$K8S_DIR" build_kubernetes ;;
    flannel) build_into "$FLANNEL_DIR" build_flannel ;;
    cni-plugins) build_into "$CNI_PLUGINS_DIR" build_cni_plugins ;;
    cni-flannel) build_into "$CNI_FLANNEL_DIR" build_cni_flannel ;;
    cnitool) build_into "$CNITOOL_DIR" build_cnitool ;;
    podcidr-controller)
      if [[ -n "${LAB_PODCIDR_CONTROLLER_BIN:-}" ]]; then
        log "podcidr-controller: using $LAB_PODCIDR_CONTROLLER_BIN"
      elif ! build_into "$PODCIDR_DIR" build_podcidr_controller; then
        log "podcidr-controller ${PODCIDR_CONTROLLER_VERSION}: the Go module proxy does not" \
          "serve it; set LAB_PODCIDR_CONTROLLER_BIN to a binary of that release" \
          "(for example copied out of the imroc/podcidr-controller image)"
      fi
      ;;
    *)
      log "unknown component $c"
      exit 2
      ;;
  esac
done
