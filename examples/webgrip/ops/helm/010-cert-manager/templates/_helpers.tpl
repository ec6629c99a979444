{{/* Labels every object of this release carries. */}}
{{- define "webgrip.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: webgrip
webgrip.dev/environment: {{ .Values.global.environment }}
{{- end }}

{{/* Selector labels of one component: stable across upgrades, so never the version. */}}
{{- define "webgrip.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The release's replica count wins, then the environment's, then 1. */}}
{{- define "webgrip.replicas" -}}
{{ .Values.replicaCount | default .Values.global.replicaCount | default 1 }}
{{- end }}

{{/* Image references are always repository:tag (pinned); an empty tag fails the render. */}}
{{- define "webgrip.image" -}}
{{ .repository }}:{{ required (printf "image %s needs a pinned tag" .repository) .tag }}
{{- end }}

{{- define "webgrip.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .runAsUser | default 65532 }}
runAsGroup: {{ .runAsUser | default 65532 }}
fsGroup: {{ .runAsUser | default 65532 }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "webgrip.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end }}

{{/* Egress every workload needs: cluster DNS and the Kubernetes API server. */}}
{{- define "webgrip.baseEgress" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
- ports:
    - {protocol: TCP, port: 443}
    - {protocol: TCP, port: 6443}
{{- end }}
