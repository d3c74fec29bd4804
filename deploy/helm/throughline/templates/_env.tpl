{{/* Environment of one service's container. Call with (dict "root" $ "name" "writer" "spec" $spec "svc" $svc). */}}
{{- define "throughline.env" -}}
{{- $root := .root }}
{{- $svc := .svc }}
{{- $spec := .spec -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: HTTP_ADDRESS
  value: {{ printf "0.0.0.0:%d" (int $root.Values.httpPort) | quote }}
- name: LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
- name: SHUTDOWN_TIMEOUT_MS
  value: {{ $svc.shutdownTimeoutMs | int | quote }}
{{- if $spec.grpc }}
- name: GRPC_ADDRESS
  value: {{ printf "0.0.0.0:%d" (int $svc.grpcPort) | quote }}
{{- if $root.Values.grpcTls.enabled }}
- name: GRPC_TLS_CERT_FILE
  value: /etc/throughline/grpc-tls/tls.crt
- name: GRPC_TLS_KEY_FILE
  value: /etc/throughline/grpc-tls/tls.key
{{- if $root.Values.grpcTls.clientAuth }}
- name: GRPC_TLS_CLIENT_CA_FILE
  value: /etc/throughline/grpc-tls/ca.crt
{{- end }}
- name: GRPC_TLS_RELOAD_MS
  value: {{ $root.Values.grpcTls.reloadMs | int | quote }}
{{- else }}
{{- /* Said explicitly: a service without a certificate and without this refuses to start. */}}
- name: GRPC_PLAINTEXT
  value: "true"
{{- end }}
{{- end }}
{{- if $spec.nats }}
{{- include "throughline.connectionEnv" (dict "root" $root "conn" "nats" "env" "NATS_URL") }}
{{- include "throughline.natsAuthEnv" $root }}
- name: PARTITION_COUNT
  value: {{ $root.Values.partitionCount | int | quote }}
- name: BUS_DUPLICATE_WINDOW_MS
  value: {{ $root.Values.bus.duplicateWindowMs | int | quote }}
- name: BUS_ACK_WAIT_MS
  value: {{ $root.Values.bus.ackWaitMs | int | quote }}
- name: BUS_MAX_DELIVER
  value: {{ $root.Values.bus.maxDeliver | int | quote }}
- name: BUS_MAX_ACK_PENDING
  value: {{ $root.Values.bus.maxAckPending | int | quote }}
- name: BUS_STREAM_REPLICAS
  value: {{ $root.Values.bus.streamReplicas | int | quote }}
{{- if $root.Values.bus.acceptNats29Replicas }}
- name: BUS_ACCEPT_NATS_2_9_REPLICAS
  value: "true"
{{- end }}
{{- /* Every service that connects to NATS may create the lease bucket, whose time to live this is. */}}
- name: LEASE_TTL_MS
  value: {{ $root.Values.leaseTtlMs | int | quote }}
{{- end }}
{{- if $spec.stage }}
{{- /* A stage shares its partitions among the live instances through leases: no index, no count. */}}
- name: PARTITION_ASSIGNMENT
  value: balanced
- name: INSTANCE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}
{{- if $spec.configClient }}
- name: CONFIG_ADDRESS
  value: {{ printf "%s:%d" (include "throughline.componentName" (dict "root" $root "name" "config")) (int $root.Values.config.grpcPort) | quote }}
{{- if $root.Values.grpcTls.enabled }}
- name: CONFIG_TLS_CA_FILE
  value: /etc/throughline/grpc-tls/ca.crt
{{- if $root.Values.grpcTls.clientAuth }}
- name: CONFIG_TLS_CERT_FILE
  value: /etc/throughline/grpc-tls/tls.crt
- name: CONFIG_TLS_KEY_FILE
  value: /etc/throughline/grpc-tls/tls.key
{{- end }}
{{- else }}
- name: CONFIG_PLAINTEXT
  value: "true"
{{- end }}
{{- end }}
{{- if $spec.redis }}
{{- include "throughline.connectionEnv" (dict "root" $root "conn" "redis" "env" "REDIS_URL") }}
{{- include "throughline.redisAuthEnv" $root }}
{{- include "throughline.dataTlsEnv" (dict "root" $root "conn" "redis" "prefix" "REDIS") }}
{{- end }}
{{- if $spec.database }}
{{- include "throughline.databaseEnv" (dict "root" $root "role" .name) }}
{{- end }}
{{- if eq .name "config" }}
- name: SEED_DEMO_TENANTS
  value: {{ $svc.seedDemoTenants | quote }}
{{- include "throughline.configAdminEnv" $root }}
{{- end }}
{{- if and (eq .name "ingest") $svc.auth.open }}
- name: INGEST_AUTH_OPEN
  value: "true"
{{- end }}
{{- include "throughline.otelEnv" (dict "root" $root "name" .name) }}
{{- range $key, $value := $svc.env }}
- name: {{ $key }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with $svc.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* OpenTelemetry's standard variables. (dict "root" $ "name" "writer") */}}
{{- define "throughline.otelEnv" -}}
{{- $root := .root }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "%s%s" $root.Values.telemetry.serviceNamePrefix .name | quote }}
{{- $attrs := list "service.namespace=throughline" (printf "service.instance.id=$(POD_NAME)") "k8s.pod.name=$(POD_NAME)" "k8s.namespace.name=$(POD_NAMESPACE)" "k8s.node.name=$(NODE_NAME)" (printf "k8s.container.name=%s" .name) (printf "service.version=%s" (default $root.Chart.AppVersion $root.Values.image.tag)) }}
{{- range $key, $value := $root.Values.telemetry.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%v" $key $value) }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attrs | quote }}
{{- with include "throughline.otlpEndpoint" $root }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/* Who may change the configuration (ConfigService.Put): config.admin. */}}
{{- define "throughline.configAdminEnv" -}}
{{- $admin := .Values.config.admin }}
{{- $tokens := $admin.tokensSecret | default dict }}
{{- if and $admin.open (or $tokens.name $admin.clients) }}
{{- fail "config.admin.open contradicts config.admin.tokensSecret and config.admin.clients: choose one" }}
{{- end }}
{{- if and $admin.clients (not (and .Values.grpcTls.enabled .Values.grpcTls.clientAuth)) }}
{{- fail "config.admin.clients names client certificates, which only mutual TLS verifies: set grpcTls.enabled and grpcTls.clientAuth" }}
{{- end }}
{{- if $tokens.name }}
- name: CONFIG_ADMIN_TOKENS_FILE
  value: {{ printf "/etc/throughline/config-admin/%s" (required "config.admin.tokensSecret.key: the key of the tokens file in that Secret" $tokens.key) | quote }}
{{- end }}
{{- with $admin.clients }}
- name: CONFIG_ADMIN_CLIENTS
  value: {{ join "," . | quote }}
{{- end }}
{{- if $admin.open }}
- name: CONFIG_PUT_OPEN
  value: "true"
{{- end }}
{{- end }}
