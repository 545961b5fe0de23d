{{/* Labels shared by the ConfigMap, the DaemonSet and its pods. */}}
{{- define "flannel.labels" -}}
tier: node
app: flannel
{{- end -}}

{{/* "repo:tag" from a map holding repository and tag. */}}
{{- define "flannel.imageRef" -}}
{{- printf "%s:%v" .repository .tag -}}
{{- end -}}

{{/* Image of the install-cni-plugin init container. */}}
{{- define "flannel.cniPluginImage" -}}
{{- include "flannel.imageRef" .Values.flannel.image_cni -}}
{{- end -}}

{{/*
net-conf.json. Members are collected as "name": value strings (values
JSON-encoded) and written in the same order as the upstream chart.
*/}}
{{- define "flannel.netConf" -}}
{{- $f := .Values.flannel -}}
{{- $top := list -}}
{{- if .Values.podCidr -}}
{{- $top = append $top (printf "\"Network\": %s" (toJson .Values.podCidr)) -}}
{{- else -}}
{{- $top = append $top "\"EnableIPv4\": false" -}}
{{- end -}}
{{- if .Values.podCidrv6 -}}
{{- $top = concat $top (list (printf "\"IPv6Network\": %s" (toJson .Values.podCidrv6)) "\"EnableIPv6\": true") -}}
{{- end -}}
{{- if $f.enableNFTables -}}
{{- $top = append $top "\"EnableNFTables\": true" -}}
{{- end -}}
{{- /* backend member name -> value key, per backend type */ -}}
{{- $fields := list -}}
{{- if eq $f.backend "vxlan" -}}
{{- $fields = list (list "Port" "backendPort") (list "VNI" "vni") (list "GBP" "GBP") (list "DirectRouting" "directRouting") (list "MTU" "mtu") (list "MacPrefix" "macPrefix") -}}
{{- else if eq $f.backend "wireguard" -}}
{{- $fields = list (list "ListenPort" "backendPort") (list "ListenPortV6" "backendPortv6") (list "PSK" "psk") (list "MTU" "mtu") (list "Mode" "tunnelMode") (list "PersistentKeepaliveInterval" "keepaliveInterval") -}}
{{- else if eq $f.backend "udp" -}}
{{- $fields = list (list "Port" "backendPort") -}}
{{- end -}}
{{- $be := list -}}
{{- range $fields -}}
{{- $val := index $f (index . 1) -}}
{{- if $val -}}
{{- $be = append $be (printf "%q: %s" (index . 0) (toJson $val)) -}}
{{- end -}}
{{- end -}}
{{- $be = append $be (printf "\"Type\": %s" (toJson $f.backend)) -}}
{
  {{ join ",\n  " $top }},
  "Backend": {
    {{ join ",\n    " $be }}
  }
}
{{- end -}}
