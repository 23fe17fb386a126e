{{/*
Kubernetes endpoint discovery (`kubernetes:` upstreams, docs/kubernetes.md): the namespaces
whose EndpointSlices the sidecar watches, comma-separated, or "" when it watches none. Read
from .Values.policy (each `kubernetes:` upstream's namespace, the release's when omitted),
plus .Values.rbac.namespaces (the release's when empty) when .Values.rbac.endpointSlices is
true: a policy in an existing ConfigMap is invisible to the chart, so it is said there.
*/}}
{{- define "outrider.discoveryNamespaces" -}}
{{- $namespaces := list }}
{{- if not .Values.policyConfigMap.existing }}
{{- range $name, $upstream := .Values.policy.upstreams }}
{{- if hasKey $upstream "kubernetes" }}
{{- $namespaces = concat $namespaces (list ($upstream.kubernetes.namespace | default $.Release.Namespace)) }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.rbac.endpointSlices }}
{{- $namespaces = concat $namespaces (.Values.rbac.namespaces | default (list .Release.Namespace)) }}
{{- end }}
{{- $namespaces | uniq | sortAlpha | join "," }}
{{- end }}

{{/*
The service account token for the sidecar alone when it watches EndpointSlices and the pod
mounts none (serviceAccount.automountToken false, the default): the same projected volume
kubelet would mount (a rotated token, the cluster CA, the namespace), but not in the app.
*/}}
{{- define "outrider.discoveryTokenMount" -}}
{{- if and (include "outrider.discoveryNamespaces" .) (not .Values.serviceAccount.automountToken) }}
- name: kube-api-access
  mountPath: /var/run/secrets/kubernetes.io/serviceaccount
  readOnly: true
{{- end }}
{{- end }}

{{- define "outrider.discoveryTokenVolume" -}}
{{- if and (include "outrider.discoveryNamespaces" .) (not .Values.serviceAccount.automountToken) }}
- name: kube-api-access
  projected:
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3607
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                apiVersion: v1
                fieldPath: metadata.namespace
{{- end }}
{{- end }}
