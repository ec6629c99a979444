{{/* Labels every object of this release carries. */}}
{{- define "app.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels: stable across upgrades, so never the version. */}}
{{- define "app.selector" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: app
{{- end }}

{{/* The release's replica count wins, then the environment's (global.replicaCount), then 1. */}}
{{- define "app.replicas" -}}
{{ .Values.replicaCount | default (dig "replicaCount" 1 (.Values.global | default dict)) }}
{{- end }}
