{{/*
Names and labels, as `helm create` makes them.
*/}}
{{- define "throughline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "throughline.fullname" -}}
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

{{- define "throughline.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "throughline.labels" -}}
helm.sh/chart: {{ include "throughline.chart" . }}
{{ include "throughline.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: throughline
{{- end }}

{{- define "throughline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "throughline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one service's objects. Call with (dict "root" $ "name" "ingest"). */}}
{{- define "throughline.componentLabels" -}}
{{ include "throughline.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "throughline.componentSelectorLabels" -}}
{{ include "throughline.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{/* Name of one service's objects; at most 52 characters, so its ReplicaSets' names ("-<hash>") stay within 63. */}}
{{- define "throughline.componentName" -}}
{{- printf "%s-%s" (include "throughline.fullname" .root) .name | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "throughline.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "throughline.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "throughline.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
What each service is: what it connects to, and for a stage (enrich, state, writer: the partition owners) the
stream and consumer group it reads. The durable consumer of partition p is "<group>-<stage>-<p>" on stream
TL_<STAGE>. Every service is a Deployment: a stage's instances share its partitions through leases in NATS.
*/}}
{{- define "throughline.services" -}}
ingest: { grpc: true, nats: true }
enrich: { nats: true, configClient: true, group: enrich, stage: ingested }
state: { nats: true, redis: true, database: true, group: state, stage: enriched }
writer: { nats: true, database: true, group: writer, stage: applied }
config: { grpc: true, database: true }
{{- end }}

{{/*
Fullname of another chart of the same release, by the convention every common chart follows (<release>-<chart>,
or the release name when it contains the chart's name). For values rendered with tpl, such as an umbrella chart's
connection URLs: {{ include "throughline.siblingFullname" (dict "root" . "chart" "redis") }}.
*/}}
{{- define "throughline.siblingFullname" -}}
{{- if contains .chart .root.Release.Name }}
{{- .root.Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .root.Release.Name .chart | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Seconds Kubernetes waits after SIGTERM: the service's drain time, the preStop pause, and a margin. */}}
{{- define "throughline.terminationGracePeriodSeconds" -}}
{{- add (div (add .svc.shutdownTimeoutMs 999) 1000) 15 }}
{{- end }}
