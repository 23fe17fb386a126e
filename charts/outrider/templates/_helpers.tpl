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
The labels every resource carries: the selector labels and the common ones.
*/}}
{{- define "outrider.labels" -}}
{{ include "outrider.selectorLabels" . }}
{{ include "outrider.commonLabels" . }}
{{- end }}

{{/*
The labels of every resource that are not selector labels (the `helm test` pod carries these
and the instance only: with the selector labels it would be an endpoint of the Service).
*/}}
{{- define "outrider.commonLabels" -}}
helm.sh/chart: {{ include "outrider.chart" . }}
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

{{/*
The app's Service: the release name (callers keep the name they called the app by, when the
release is named after the app), or service.name.
*/}}
{{- define "outrider.serviceName" -}}
{{- default .Release.Name .Values.service.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
A Service's targetPort for one of Outrider's ports: by the container port's name where the
endpoints controller resolves names on native sidecars (Kubernetes 1.32+), else by number.
Call with (list $ "inbound" <port>).
*/}}
{{- define "outrider.targetPort" -}}
{{- $root := index . 0 }}
{{- if semverCompare ">=1.32.0-0" $root.Capabilities.KubeVersion.Version }}
{{- index . 1 }}
{{- else }}
{{- int (index . 2) }}
{{- end }}
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
NO_PROXY for the app: loopback (the app's own port, the admin server), the cloud metadata
addresses (instance credentials: AWS, GCP and Azure's 169.254.169.254, ECS/EKS Pod Identity's
169.254.170.2) and the hosts listed.
*/}}
{{- define "outrider.noProxy" -}}
{{- concat (list "localhost" "127.0.0.1" "::1" "169.254.169.254" "169.254.170.2") .Values.app.noProxy | uniq | join "," }}
{{- end }}

{{/*
JAVA_TOOL_OPTIONS for a JVM app (app.javaProxy): the JVM ignores HTTP_PROXY and NO_PROXY, and
reads these system properties instead. http.nonProxyHosts is NO_PROXY in Java's syntax: `|`
between hosts, `*` for a leading dot, IPv6 in brackets; CIDR ranges, which Java cannot express,
are left out.
*/}}
{{- define "outrider.javaToolOptions" -}}
{{- $hosts := list }}
{{- range splitList "," (include "outrider.noProxy" .) }}
{{- if hasPrefix "." . }}
{{- $hosts = append $hosts (printf "*%s" .) }}
{{- else if contains ":" . }}
{{- $hosts = append $hosts (printf "[%s]" .) }}
{{- else if not (contains "/" .) }}
{{- $hosts = append $hosts . }}
{{- end }}
{{- end }}
{{- $options := list "-Dhttp.proxyHost=127.0.0.1" (printf "-Dhttp.proxyPort=%d" (int .Values.sidecar.ports.outbound)) (printf "-Dhttp.nonProxyHosts=%s" (join "|" $hosts)) }}
{{- with .Values.app.javaProxy.extraOptions }}
{{- $options = append $options . }}
{{- end }}
{{- join " " $options }}
{{- end }}
