{{/*
Checks across values that values.schema.json cannot express. Included by every workload template, so a broken
value fails the render with a message naming the value to change.
*/}}
{{- define "throughline.validate" -}}
{{- range $conn := list "nats" "redis" "database" }}
{{- $_ := include "throughline.connectionEnv" (dict "root" $ "conn" $conn "env" "CHECK") }}
{{- end }}
{{- $p := int .Values.partitionCount }}
{{- range $name, $spec := include "throughline.services" . | fromYaml }}
{{- $svc := index $.Values $name }}
{{- $a := $svc.autoscaling }}
{{- if $spec.stage }}
{{- if gt (int $svc.replicas) $p }}
{{- fail (printf "%s.replicas (%d) exceeds partitionCount (%d): each partition has one owner at a time, so an instance beyond the partition count would own nothing" $name (int $svc.replicas) $p) }}
{{- end }}
{{- if and (ne $a.mode "none") (gt (int $a.maxReplicas) $p) }}
{{- fail (printf "%s.autoscaling.maxReplicas (%d) exceeds partitionCount (%d): an instance beyond the partition count would own nothing" $name (int $a.maxReplicas) $p) }}
{{- end }}
{{- end }}
{{- range $key, $_ := $svc.env }}
{{- if has $key (list "POD_NAME" "POD_NAMESPACE" "NODE_NAME" "HTTP_ADDRESS" "LOG_LEVEL" "SHUTDOWN_TIMEOUT_MS" "GRPC_ADDRESS" "NATS_URL" "REDIS_URL" "DATABASE_URL" "DATABASE_USER" "DATABASE_PASSWORD_FILE" "DATABASE_MIGRATE" "TL_NATS_PASSWORD" "TL_REDIS_PASSWORD" "TL_DATABASE_PASSWORD" "PARTITION_COUNT" "LEASE_TTL_MS" "INSTANCE_ID" "CONFIG_ADDRESS" "SEED_DEMO_TENANTS" "BUS_DUPLICATE_WINDOW_MS" "BUS_ACK_WAIT_MS" "BUS_MAX_DELIVER" "BUS_MAX_ACK_PENDING" "BUS_STREAM_REPLICAS" "BUS_ACCEPT_NATS_2_9_REPLICAS" "OTEL_SERVICE_NAME" "OTEL_RESOURCE_ATTRIBUTES" "OTEL_EXPORTER_OTLP_ENDPOINT") }}
{{- fail (printf "%s.env.%s is set by the chart from its own values (partitionCount, leaseTtlMs, connections, bus, telemetry, logLevel, %s.shutdownTimeoutMs, ...): set it there" $name $key $name) }}
{{- end }}
{{- if has $key (list "PARTITION_ASSIGNMENT" "INSTANCE_INDEX" "INSTANCE_COUNT") }}
{{- fail (printf "%s.env.%s: the instances of a Deployment have no index, so the chart always shares partitions through leases (PARTITION_ASSIGNMENT=balanced); scale with replicas or autoscaling instead" $name $key) }}
{{- end }}
{{- end }}
{{- if and (ne $a.mode "none") (gt (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- fail (printf "%s.autoscaling.minReplicas (%d) exceeds maxReplicas (%d)" $name (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- end }}
{{- if and (eq $a.mode "hpa") (lt (int $a.minReplicas) 1) }}
{{- fail (printf "%s.autoscaling.minReplicas must be at least 1 with mode hpa (only keda scales to zero)" $name) }}
{{- end }}
{{- end }}
{{- end }}
