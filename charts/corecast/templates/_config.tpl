{{/*
The operator's configuration file. The values the operator reads go in as they are written: it
applies their defaults and rules at start (operator/src/config/), the same schema that
values.schema.json is generated from, and names the value that breaks one. Only what the chart
alone knows is worked out here: image references, watched namespaces, the Lease, the name of
the auth Secret. The one rule below is about what the chart itself writes.
*/}}
{{- define "corecast.operatorConfig" -}}
{{- $v := .Values -}}
{{- if and (include "corecast.needsAuthSecret" .) (include "corecast.clusterWide" .) (not $v.auth.existingSecret) (not $v.auth.secretNamespaces) -}}
{{- fail "auth: with watchAllNamespaces, the shared secret (auth.mode hs256 or auth.embed.enabled) needs auth.existingSecret (a Secret you create in each namespace that holds Processes) or auth.secretNamespaces (namespaces the chart writes it into)" -}}
{{- end -}}
{{- /* auth less the chart's own keys (the secret itself stays out of the ConfigMap), naming the Secret egress pods read. */ -}}
{{- $auth := omit $v.auth "secret" "secretNamespaces" -}}
{{- $_ := set $auth "existingSecret" (include "corecast.authSecretName" .) -}}
{{- $namespaces := list -}}
{{- if not (include "corecast.clusterWide" .) }}{{ $namespaces = include "corecast.watchNamespaces" . | fromJsonArray }}{{ end -}}
{{- $config := dict
  "namespaces" $namespaces
  "workers" $v.operator.workers
  "logLevel" $v.operator.logLevel
  "resyncSeconds" $v.operator.resyncSeconds
  "images" (dict
    "ffmpeg" (include "corecast.image" (dict "image" $v.images.ffmpeg "root" .))
    "egress" (include "corecast.image" (dict "image" $v.images.egress "root" .))
    "pullPolicy" $v.images.pullPolicy
    "pullSecrets" $v.images.pullSecrets)
  "publicBaseUrl" $v.publicBaseUrl
  "ingress" $v.ingress
  "gateway" $v.gateway
  "auth" $auth
  "media" $v.media
  "egress" $v.egress
  "ffmpeg" $v.ffmpeg
  "pods" $v.pods
  "leaderElection" (dict
    "enabled" (not (not (include "corecast.leaderElection" .)))
    "leaseName" (include "corecast.operatorName" .)
    "leaseNamespace" .Release.Namespace)
  "metrics" (dict "port" $v.operator.ports.metrics)
  "health" (dict "port" $v.operator.ports.health)
  "progress" (merge (dict
    "port" $v.operator.ports.progress
    "endpoint" (printf "%s.%s.svc:%d" (include "corecast.operatorName" .) .Release.Namespace (int $v.operator.ports.progress))
    "operatorPodLabels" (include "corecast.operatorSelector" . | fromYaml)
    "operatorNamespace" .Release.Namespace) $v.progress)
  "coreApi" (merge (dict "namespace" (include "corecast.coreApiNamespace" .)) (omit $v.coreApi "namespace"))
-}}
{{- toYaml $config -}}
{{- end -}}
