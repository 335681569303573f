{{/*
The operator's configuration file (schema: operator/src/config.ts), built from the values.
Cross-field rules that values.schema.json cannot phrase clearly fail here, naming the value.
*/}}
{{- define "corecast.operatorConfig" -}}
{{- $v := .Values -}}
{{- $media := $v.media -}}
{{- $auth := $v.auth -}}

{{- /* Cross-field checks. */ -}}
{{- if and (include "corecast.needsAuthSecret" .) (include "corecast.clusterWide" .) (not $auth.existingSecret) (not $auth.secretNamespaces) -}}
{{- fail "auth: with watchAllNamespaces, the shared secret (auth.mode hs256 or auth.embed.enabled) needs auth.existingSecret (a Secret you create in each namespace that holds Processes) or auth.secretNamespaces (namespaces the chart writes it into)" -}}
{{- end -}}
{{- if and (eq $auth.mode "jwks") (not $auth.jwksUrl) -}}
{{- fail "auth.jwksUrl is required when auth.mode is jwks" -}}
{{- end -}}
{{- if and (eq $media.mode "turn") (not $media.turn.urls) -}}
{{- fail "media.turn.urls is required when media.mode is turn (relay-only media needs a TURN server)" -}}
{{- end -}}
{{- if and $media.turn.urls (not $media.turn.existingSecret) -}}
{{- fail "media.turn.existingSecret is required with media.turn.urls (a Secret in each watched namespace holding the TURN shared secret or password)" -}}
{{- end -}}
{{- if and $media.turn.urls (eq $media.turn.auth "password") (not $media.turn.username) -}}
{{- fail "media.turn.username is required when media.turn.auth is password" -}}
{{- end -}}
{{- with $media.portRange -}}
{{- if ge (int .min) (int .max) -}}
{{- fail "media.portRange.min must be below media.portRange.max (a range of at least two ports)" -}}
{{- end -}}
{{- range $p := list 5004 5006 8080 -}}
{{- if and (ge $p (int $media.portRange.min)) (le $p (int $media.portRange.max)) -}}
{{- fail (printf "media.portRange must not include %d (egress pods receive RTP on 5004 and 5006 and serve HTTP on 8080)" $p) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if eq $media.mode "loadBalancer" -}}
{{- if not $media.portRange -}}
{{- fail "media.portRange is required when media.mode is loadBalancer (each Process's media Service exposes every port of the range)" -}}
{{- end -}}
{{- if gt (add1 (sub (int $media.portRange.max) (int $media.portRange.min))) 1000 -}}
{{- fail "media.portRange holds more than 1000 ports; a media Service (media.mode loadBalancer) exposes at most 1000" -}}
{{- end -}}
{{- end -}}
{{- if and $v.gateway.enabled (not $v.gateway.parentRefs) -}}
{{- fail "gateway.parentRefs needs at least one Gateway ({name, namespace}) when gateway.enabled is true" -}}
{{- end -}}
{{- range $i, $a := $v.gateway.parentRefs -}}
{{- range $j, $b := $v.gateway.parentRefs -}}
{{- if and (lt $i $j) (eq $a.name $b.name) (eq ($a.namespace | default "") ($b.namespace | default "")) (or (not $a.sectionName) (not $b.sectionName) (eq $a.sectionName $b.sectionName)) -}}
{{- fail (printf "gateway.parentRefs[%d] and gateway.parentRefs[%d] name the same Gateway: give each its own sectionName (listener)" $i $j) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $media.advertiseOnly (not $media.publicAddresses) (not $media.advertiseNodeIp) (ne $media.mode "loadBalancer") -}}
{{- fail "media.advertiseOnly needs media.publicAddresses or media.advertiseNodeIp (otherwise nothing is advertised)" -}}
{{- end -}}

{{- /* egress.auth: the api package's EgressAuth. */ -}}
{{- $egressAuth := dict "mode" $auth.mode -}}
{{- if ne $auth.mode "none" -}}
{{- $_ := set $egressAuth "processesClaim" $auth.processesClaim -}}
{{- $_ := set $egressAuth "clockToleranceSeconds" $auth.clockToleranceSeconds -}}
{{- $_ := set $egressAuth "maxTokenLifetimeSeconds" $auth.maxTokenLifetimeSeconds -}}
{{- with $auth.issuer }}{{ $_ := set $egressAuth "issuer" . }}{{ end -}}
{{- with $auth.audience }}{{ $_ := set $egressAuth "audience" . }}{{ end -}}
{{- end -}}
{{- if eq $auth.mode "jwks" -}}
{{- $_ := set $egressAuth "jwksUrl" $auth.jwksUrl -}}
{{- $_ := set $egressAuth "algorithms" $auth.algorithms -}}
{{- end -}}
{{- $secretRef := dict "name" (include "corecast.authSecretName" .) "key" $auth.existingSecretKey -}}

{{- /* egress.ice: the api package's EgressIce. */ -}}
{{- $servers := list -}}
{{- with $media.stunServers -}}
{{- $servers = append $servers (dict "urls" .) -}}
{{- end -}}
{{- $secretEnv := $v.egress.secretEnv | default list -}}
{{- if $media.turn.urls -}}
{{- $turnAuth := dict -}}
{{- if eq $media.turn.auth "password" -}}
{{- $turnAuth = dict "type" "password" "username" $media.turn.username "credentialEnv" "CORECAST_TURN_SECRET" -}}
{{- else -}}
{{- $turnAuth = dict "type" "ephemeral" "secretEnv" "CORECAST_TURN_SECRET" "user" $media.turn.user "ttlSeconds" $media.turn.ttlSeconds -}}
{{- end -}}
{{- $servers = append $servers (dict "urls" $media.turn.urls "auth" $turnAuth) -}}
{{- $secretEnv = append $secretEnv (dict "name" "CORECAST_TURN_SECRET" "secretName" $media.turn.existingSecret "key" $media.turn.existingSecretKey) -}}
{{- end -}}
{{- $addressEnv := list -}}
{{- if $media.advertiseNodeIp }}{{ $addressEnv = list "NODE_IP" }}{{ end -}}
{{- $ice := dict
  "lite" $media.iceLite
  "advertise" (dict "addresses" ($media.publicAddresses | default list) "addressEnv" $addressEnv "only" (and $media.advertiseOnly (ne $media.mode "loadBalancer")))
  "ipv6" $media.ipv6
  "tcp" $media.tcp
  "servers" $servers
  "relayOnly" (eq $media.mode "turn")
-}}
{{- with $media.portRange -}}
{{- $_ := set $ice "portRange" (dict "min" .min "max" .max) -}}
{{- end -}}

{{- $egress := dict
  "maxViewersPerPod" $v.egress.maxViewersPerPod
  "viewerLimits" (dict "perSubject" $v.egress.viewerLimits.perSubject "perClient" $v.egress.viewerLimits.perClient)
  "resources" (dict "requests" ($v.egress.resources.requests | default dict) "limits" ($v.egress.resources.limits | default dict))
  "logLevel" $v.egress.logLevel
  "auth" $egressAuth
  "embed" (dict "enabled" $auth.embed.enabled "maxTtlSeconds" $auth.embed.maxTtlSeconds)
  "ice" $ice
  "secretEnv" $secretEnv
  "hostNetwork" (eq $media.mode "hostNetwork")
-}}
{{- /* mode loadBalancer: the operator adds each load balancer's address and advertises only those. */ -}}
{{- $lb := dict
  "enabled" (eq $media.mode "loadBalancer")
  "annotations" ($media.loadBalancer.annotations | default dict)
  "externalTrafficPolicy" $media.loadBalancer.externalTrafficPolicy
  "allocateNodePorts" $media.loadBalancer.allocateNodePorts
-}}
{{- with $media.loadBalancer.loadBalancerClass }}{{ $_ := set $lb "loadBalancerClass" . }}{{ end -}}
{{- $_ := set $egress "loadBalancer" $lb -}}
{{- if eq $auth.mode "hs256" }}{{ $_ := set $egress "jwtSecretRef" $secretRef }}{{ end -}}
{{- if $auth.embed.enabled }}{{ $_ := set $egress "embedSecretRef" $secretRef }}{{ end -}}

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
    "pullSecrets" ($v.images.pullSecrets | default list))
  "ingress" (dict
    "enabled" $v.ingress.enabled
    "className" $v.ingress.className
    "host" $v.ingress.host
    "tlsSecretName" $v.ingress.tlsSecretName
    "annotations" ($v.ingress.annotations | default dict))
  "gateway" (dict
    "enabled" $v.gateway.enabled
    "parentRefs" ($v.gateway.parentRefs | default list)
    "annotations" ($v.gateway.annotations | default dict))
  "ffmpeg" (dict "access" $v.ffmpeg.access "networkPolicy" $v.ffmpeg.networkPolicy)
  "egress" $egress
  "pods" (dict "runAsUser" $v.pods.runAsUser "runAsGroup" $v.pods.runAsGroup)
  "leaderElection" (dict
    "enabled" (not (not (include "corecast.leaderElection" .)))
    "leaseName" (include "corecast.operatorName" .)
    "leaseNamespace" .Release.Namespace)
  "metrics" (dict "port" $v.operator.ports.metrics)
  "health" (dict "port" $v.operator.ports.health)
-}}
{{- with $v.publicBaseUrl }}{{ $_ := set $config "publicBaseUrl" . }}{{ end -}}
{{- toYaml $config -}}
{{- end -}}
