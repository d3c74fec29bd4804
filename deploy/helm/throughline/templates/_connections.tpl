{{/*
Connection settings. Each of nats, redis and database resolves, in order, to: its own existingSecret, the shared
connections.existingSecret, the Secret this chart makes from its `url`, or the enabled subchart. Otherwise the
render fails and says what to set. Call with (dict "root" $ "conn" "nats" "env" "NATS_URL").
*/}}
{{- define "throughline.connectionEnv" -}}
{{- $root := .root }}
{{- $c := index $root.Values.connections .conn }}
{{- $secret := coalesce $c.existingSecret $root.Values.connections.existingSecret }}
{{- if and (not $secret) $c.url }}
{{- $secret = printf "%s-connections" (include "throughline.fullname" $root) }}
{{- end }}
{{- if $secret }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $c.key }}
{{- else if and (eq .conn "nats") $root.Values.nats.enabled }}
- name: {{ .env }}
  value: {{ printf "nats://%s:4222" (include "throughline.subchartFullname" (dict "root" $root "chart" "nats")) | quote }}
{{- else if and (eq .conn "redis") $root.Values.redis.enabled }}
{{- $name := include "throughline.subchartFullname" (dict "root" $root "chart" "redis") }}
- name: TL_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: redis-password
- name: {{ .env }}
  value: {{ printf "redis://:$(TL_REDIS_PASSWORD)@%s-master:6379" $name | quote }}
{{- else if and (eq .conn "database") $root.Values.postgresql.enabled }}
{{- $name := include "throughline.subchartFullname" (dict "root" $root "chart" "postgresql") }}
{{- $auth := $root.Values.postgresql.auth }}
- name: TL_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: password
- name: {{ .env }}
  value: {{ printf "postgres://%s:$(TL_DATABASE_PASSWORD)@%s:5432/%s" $auth.username $name $auth.database | quote }}
{{- else }}
{{- $subchart := dict "nats" "nats" "redis" "redis" "database" "postgresql" }}
{{- required (printf "connections.%s: set url (stored in a Secret by this chart), existingSecret (a Secret with key %s), connections.existingSecret, or %s.enabled=true" .conn $c.key (index $subchart .conn)) "" }}
{{- end }}
{{- end }}

{{/* The OTLP endpoint: telemetry.otlpEndpoint, else the Jaeger subchart's collector, else none. */}}
{{- define "throughline.otlpEndpoint" -}}
{{- if .Values.telemetry.otlpEndpoint }}
{{- .Values.telemetry.otlpEndpoint }}
{{- else if .Values.jaeger.enabled }}
{{- printf "http://%s-collector:4318" (include "throughline.subchartFullname" (dict "root" . "chart" "jaeger")) }}
{{- end }}
{{- end }}

{{/* host:port of NATS monitoring for KEDA: keda.natsServerMonitoringEndpoint, else the NATS subchart's. */}}
{{- define "throughline.natsMonitoringEndpoint" -}}
{{- if .Values.keda.natsServerMonitoringEndpoint }}
{{- .Values.keda.natsServerMonitoringEndpoint }}
{{- else if .Values.nats.enabled }}
{{- printf "%s-headless.%s.svc:8222" (include "throughline.subchartFullname" (dict "root" . "chart" "nats")) .Release.Namespace }}
{{- else }}
{{- required "keda.natsServerMonitoringEndpoint: set the host:port of the NATS monitoring endpoint (or nats.enabled=true) when a service uses autoscaling.mode=keda" "" }}
{{- end }}
{{- end }}
