{{/*
The full name of the release's resources: <release>-<chart>, or the release name alone when it
already contains the chart name; 63 characters at most.
*/}}
{{- define "injector.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "injector.selectorLabels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "injector.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "injector.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The Outrider image: repository@digest, or repository:tag (the tag defaults to appVersion).
*/}}
{{- define "injector.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
"true" when the serving certificate comes from cert-manager: asked for, or (auto) when the
cluster serves its API. Empty otherwise (an empty string is false in `if`).
*/}}
{{- define "injector.certManager" -}}
{{- $mode := .Values.certManager.enabled }}
{{- if kindIs "bool" $mode }}
{{- if $mode }}true{{ end }}
{{- else if .Capabilities.APIVersions.Has "cert-manager.io/v1" }}true
{{- end }}
{{- end }}

{{/* The Secret holding the serving certificate (tls.crt, tls.key, ca.crt). */}}
{{- define "injector.tlsSecret" -}}
{{- printf "%s-tls" (include "injector.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The names the API server may use for the Service: the certificate must hold them. */}}
{{- define "injector.dnsNames" -}}
{{- $svc := include "injector.fullname" . }}
{{- list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) | toJson }}
{{- end }}

{{/*
What the two webhooks share; called with (dict "root" $ "path" "/inject" "caBundle" $caBundle).
Pods only, on CREATE: the sidecar goes in when the pod is made, never into a running one.
*/}}
{{- define "injector.webhookCommon" -}}
admissionReviewVersions: [v1]
sideEffects: None
failurePolicy: {{ .root.Values.webhook.failurePolicy }}
timeoutSeconds: {{ int .root.Values.webhook.timeoutSeconds }}
clientConfig:
  service:
    name: {{ include "injector.fullname" .root }}
    namespace: {{ .root.Release.Namespace }}
    path: {{ .path }}
    port: {{ int .root.Values.service.port }}
  {{- with .caBundle }}
  caBundle: {{ . }}
  {{- end }}
rules:
  - operations: [CREATE]
    apiGroups: [""]
    apiVersions: [v1]
    resources: [pods]
    scope: Namespaced
# A pod labelled outrider.io/inject=disabled is not even sent.
objectSelector:
  matchExpressions:
    - { key: outrider.io/inject, operator: NotIn, values: [disabled] }
{{- end }}
