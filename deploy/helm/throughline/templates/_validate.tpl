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
{{- if eq $spec.kind "StatefulSet" }}
{{- if gt (int $svc.replicas) $p }}
{{- fail (printf "%s.replicas (%d) exceeds partitionCount (%d): each partition has one owner, so no partition-owning service runs more replicas than partitions" $name (int $svc.replicas) $p) }}
{{- end }}
{{- if and (ne $a.mode "none") (gt (int $a.maxReplicas) $p) }}
{{- fail (printf "%s.autoscaling.maxReplicas (%d) exceeds partitionCount (%d): autoscaling never goes past the partition count" $name (int $a.maxReplicas) $p) }}
{{- end }}
{{- end }}
{{- range $key, $_ := $svc.env }}
{{- if has $key (list "POD_NAME" "POD_NAMESPACE" "NODE_NAME" "HTTP_ADDRESS" "LOG_LEVEL" "SHUTDOWN_TIMEOUT_MS" "GRPC_ADDRESS" "NATS_URL" "REDIS_URL" "DATABASE_URL" "PARTITION_COUNT" "INSTANCE_INDEX" "INSTANCE_COUNT" "INSTANCE_COUNT_SOURCE" "STATEFULSET_NAME" "CONFIG_ADDRESS" "SEED_DEMO_TENANTS" "BUS_DUPLICATE_WINDOW_MS" "BUS_ACK_WAIT_MS" "BUS_MAX_DELIVER" "BUS_MAX_ACK_PENDING" "OTEL_SERVICE_NAME" "OTEL_RESOURCE_ATTRIBUTES" "OTEL_EXPORTER_OTLP_ENDPOINT") }}
{{- fail (printf "%s.env.%s is set by the chart from its own values (partitionCount, connections, bus, telemetry, logLevel, %s.shutdownTimeoutMs, ...): set it there" $name $key $name) }}
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
