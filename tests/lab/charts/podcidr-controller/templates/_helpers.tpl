{{/* Short name: nameOverride or the chart name, at most 63 characters. */}}
{{- define "podcidr-controller.name" -}}
{{- $n := .Chart.Name -}}
{{- with .Values.nameOverride }}{{ $n = . }}{{ end -}}
{{- trunc 63 $n | trimSuffix "-" -}}
{{- end -}}

{{/*
Object name. fullnameOverride wins; otherwise the release name, suffixed with
the short name unless the release name already contains it.
*/}}
{{- define "podcidr-controller.fullname" -}}
{{- $out := "" -}}
{{- if .Values.fullnameOverride -}}
{{- $out = .Values.fullnameOverride -}}
{{- else -}}
{{- $short := .Chart.Name -}}
{{- with .Values.nameOverride }}{{ $short = . }}{{ end -}}
{{- $out = ternary .Release.Name (printf "%s-%s" .Release.Name $short) (contains $short .Release.Name) -}}
{{- end -}}
{{- trunc 63 $out | trimSuffix "-" -}}
{{- end -}}

{{- define "podcidr-controller.chartLabel" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select the pods. */}}
{{- define "podcidr-controller.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podcidr-controller.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "podcidr-controller.labels" -}}
helm.sh/chart: {{ include "podcidr-controller.chartLabel" . }}
{{ include "podcidr-controller.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "podcidr-controller.serviceAccountName" -}}
{{- $fallback := "default" -}}
{{- if .Values.serviceAccount.create -}}
{{- $fallback = include "podcidr-controller.fullname" . -}}
{{- end -}}
{{- .Values.serviceAccount.name | default $fallback -}}
{{- end -}}

{{/* Controller flags, one per line, in the order the upstream chart emits them. */}}
{{- define "podcidr-controller.args" -}}
{{- $v := .Values -}}
{{- $flags := list (printf "--cluster-cidr=%v" $v.clusterCIDR) (printf "--node-cidr-mask-size=%v" $v.nodeCIDRMaskSize) -}}
{{- if $v.allocateNodeSelector -}}
{{- $flags = append $flags (printf "--node-selector=%v" $v.allocateNodeSelector) -}}
{{- end -}}
{{- if $v.removeTaints -}}
{{- $flags = append $flags (printf "--remove-taints=%s" (join "," $v.removeTaints)) -}}
{{- end -}}
{{- $le := $v.leaderElection -}}
{{- if $le.enabled -}}
{{- $flags = concat $flags (list "--leader-elect=true" (printf "--leader-elect-lease-duration=%v" $le.leaseDuration) (printf "--leader-elect-renew-deadline=%v" $le.renewDeadline) (printf "--leader-elect-retry-period=%v" $le.retryPeriod)) -}}
{{- else -}}
{{- $flags = append $flags "--leader-elect=false" -}}
{{- end -}}
{{- toYaml $flags -}}
{{- end -}}
