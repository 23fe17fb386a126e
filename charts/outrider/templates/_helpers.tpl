{{/*
The chart name, truncated to 63 characters (a DNS label).
*/}}
{{- define "outrider.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's resources: <release>-<chart>, or the release name alone when it
already contains the chart name; 63 characters at most.
*/}}
{{- define "outrider.fullname" -}}
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

{{/*
name-version of the chart, for the helm.sh/chart label.
*/}}
{{- define "outrider.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The labels every resource carries.
*/}}
{{- define "outrider.labels" -}}
helm.sh/chart: {{ include "outrider.chart" . }}
{{ include "outrider.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The labels that select the release's pods (they never change after the first install).
*/}}
{{- define "outrider.selectorLabels" -}}
app.kubernetes.io/name: {{ include "outrider.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "outrider.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "outrider.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Outrider image: repository@digest, or repository:tag (the tag defaults to appVersion).
*/}}
{{- define "outrider.image" -}}
{{- if .Values.sidecar.image.digest }}
{{- printf "%s@%s" .Values.sidecar.image.repository .Values.sidecar.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.sidecar.image.repository (.Values.sidecar.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The ConfigMap holding the policy: an existing one, or the chart's.
*/}}
{{- define "outrider.configMapName" -}}
{{- if .Values.policyConfigMap.existing }}
{{- .Values.policyConfigMap.existing }}
{{- else }}
{{- printf "%s-policy" (include "outrider.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
The policy file: version, admin, drainTimeout and listeners from .Values.sidecar, then every
other key from .Values.policy (toYaml sorts keys; their order means nothing to Outrider).
*/}}
{{- define "outrider.policy" -}}
# Rendered by the outrider Helm chart from .Values.sidecar and .Values.policy.
version: 1
admin:
  address: "{{ .Values.sidecar.listenAddress }}:{{ int .Values.sidecar.ports.admin }}"
drainTimeout: "{{ int .Values.sidecar.drainTimeoutSeconds }}s"
listeners:
  - name: outbound
    address: "127.0.0.1:{{ int .Values.sidecar.ports.outbound }}"
  - name: inbound
    address: "{{ .Values.sidecar.listenAddress }}:{{ int .Values.sidecar.ports.inbound }}"
{{ toYaml .Values.policy }}
{{- end }}

{{/*
The pod's termination grace period: the app's preStop sleep, its shutdown, Outrider's drain
(native sidecars stop after the app) and 5 s to spare. A smaller explicit value fails.
*/}}
{{- define "outrider.terminationGracePeriodSeconds" -}}
{{- $needed := add .Values.app.preStopSleepSeconds .Values.app.shutdownSeconds .Values.sidecar.drainTimeoutSeconds 5 }}
{{- if .Values.terminationGracePeriodSeconds }}
{{- if lt (int .Values.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) is less than app.preStopSleepSeconds + app.shutdownSeconds + sidecar.drainTimeoutSeconds + 5 (%d): Outrider would be killed before its drain ends" (int .Values.terminationGracePeriodSeconds) (int $needed)) }}
{{- end }}
{{- int .Values.terminationGracePeriodSeconds }}
{{- else }}
{{- int $needed }}
{{- end }}
{{- end }}

{{/*
HTTP_PROXY for the app: Outrider's outbound listener on loopback.
*/}}
{{- define "outrider.proxyUrl" -}}
{{- printf "http://127.0.0.1:%d" (int .Values.sidecar.ports.outbound) }}
{{- end }}

{{/*
NO_PROXY for the app: loopback (the app's own port, the admin server) and the hosts listed.
*/}}
{{- define "outrider.noProxy" -}}
{{- concat (list "localhost" "127.0.0.1" "::1") .Values.app.noProxy | uniq | join "," }}
{{- end }}
