{{/*
Names and labels shared by every template.
*/}}

{{/* The release's base name: the release name, or "<release>-corecast" when it lacks the chart name. */}}
{{- define "corecast.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Name of the operator's Deployment, ServiceAccount, RBAC objects, Service and Lease. */}}
{{- define "corecast.operatorName" -}}
{{- printf "%s-operator" (include "corecast.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object the chart renders (Kubernetes recommended labels). */}}
{{- define "corecast.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: corecast
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of the operator's pods (immutable once installed: keep them few). */}}
{{- define "corecast.operatorSelector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* The operator's ServiceAccount name. */}}
{{- define "corecast.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "corecast.operatorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* An image reference: repository:tag, or repository@digest; the tag defaults to the chart's appVersion. */}}
{{- define "corecast.image" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}
{{- end -}}

{{/* True (non-empty) when the operator watches every namespace and so needs cluster-wide RBAC. */}}
{{- define "corecast.clusterWide" -}}
{{- if .Values.watchAllNamespaces -}}true{{- end -}}
{{- end -}}

{{/* The watched namespaces as a JSON list (watchNamespaces, or the release namespace); unused when cluster-wide. */}}
{{- define "corecast.watchNamespaces" -}}
{{- toJson (.Values.watchNamespaces | default (list .Release.Namespace) | uniq) -}}
{{- end -}}

{{/* Namespaces the chart writes its auth Secret into, as a JSON list. */}}
{{- define "corecast.secretNamespaces" -}}
{{- if include "corecast.clusterWide" . -}}
{{- toJson (.Values.auth.secretNamespaces | default list | uniq) -}}
{{- else -}}
{{- include "corecast.watchNamespaces" . -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret holding the shared auth secret (hs256, embed URLs). */}}
{{- define "corecast.authSecretName" -}}
{{- default (printf "%s-auth" (include "corecast.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{/* True (non-empty) when egress pods need the shared secret: hs256 tokens or signed embed URLs. */}}
{{- define "corecast.needsAuthSecret" -}}
{{- if or (eq .Values.auth.mode "hs256") .Values.auth.embed.enabled -}}true{{- end -}}
{{- end -}}

{{/* Leader election is on when asked for, and always with more than one replica. */}}
{{- define "corecast.leaderElection" -}}
{{- if or .Values.operator.leaderElection.enabled (gt (int .Values.operator.replicas) 1) -}}true{{- end -}}
{{- end -}}

{{/* The restricted Pod Security container settings (pod-security-standards "restricted"). */}}
{{- define "corecast.restrictedContainer" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
What the operator does in a watched namespace (operator/README.md, "RBAC"): list and watch
Processes and patch their status; list, watch, server-side apply (create + patch) and delete the children it
builds; create events.k8s.io Events. Nothing else: no Secrets (egress pods reference them by
name), no wildcards. HTTPRoutes only with gateway.enabled (the Ingress rule stays: the operator
deletes Ingresses left from before the switch). A chart test runs the operator under these
rules and fails on any 403.
*/}}
{{- define "corecast.watchRules" -}}
- apiGroups: ["corecast.dev"]
  resources: ["processes"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["corecast.dev"]
  resources: ["processes/status"]
  verbs: ["patch"]
# Children's owner references set blockOwnerDeletion, which the OwnerReferencesPermissionEnforcement
# admission plugin (on in OpenShift) only allows with update on the owner's finalizers.
- apiGroups: ["corecast.dev"]
  resources: ["processes/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["pods", "services"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses", "networkpolicies"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
{{- if .Values.gateway.enabled }}
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
{{- end }}
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/* The namespace the Core API serves: coreApi.namespace, else the first watched namespace. */}}
{{- define "corecast.coreApiNamespace" -}}
{{- if .Values.coreApi.namespace -}}
{{- .Values.coreApi.namespace -}}
{{- else if .Values.watchNamespaces -}}
{{- first .Values.watchNamespaces -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}
