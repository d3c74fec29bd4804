{{/*
The pod template of one service's Deployment. (dict "root" $ "name" "writer" "spec" $spec "svc" $svc)
*/}}
{{- define "throughline.podTemplate" -}}
{{- $root := .root }}
{{- $svc := .svc }}
{{- $spec := .spec -}}
metadata:
  labels:
    {{- include "throughline.componentSelectorLabels" . | nindent 4 }}
    {{- with $root.Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/connections: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
    {{- with merge (dict) $svc.podAnnotations $root.Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  serviceAccountName: {{ include "throughline.serviceAccountName" $root }}
  # No service calls the Kubernetes API: partitions are shared through leases in NATS, not by pod ordinals.
  automountServiceAccountToken: false
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ include "throughline.terminationGracePeriodSeconds" (dict "svc" $svc) }}
  containers:
    - name: {{ .name }}
      image: {{ include "throughline.image" $root | quote }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args: [{{ printf "apps/%s/dist/main.js" .name | quote }}]
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      ports:
        - name: http
          containerPort: {{ $root.Values.httpPort }}
          protocol: TCP
        {{- if $spec.grpc }}
        - name: grpc
          containerPort: {{ $svc.grpcPort }}
          protocol: TCP
        {{- end }}
      env:
        {{- include "throughline.env" . | nindent 8 }}
      startupProbe:
        httpGet: { path: /healthz, port: http }
        {{- toYaml $root.Values.probes.startup | nindent 8 }}
      livenessProbe:
        httpGet: { path: /healthz, port: http }
        {{- toYaml $root.Values.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet: { path: /readyz, port: http }
        {{- toYaml $root.Values.probes.readiness | nindent 8 }}
      {{- if $spec.grpc }}
      lifecycle:
        # Keeps serving while the endpoint removal reaches every client and proxy, then SIGTERM drains.
        preStop:
          exec:
            command: ["sleep", "5"]
      {{- end }}
      resources:
        {{- toYaml $svc.resources | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if and $root.Values.grpcTls.enabled (or $spec.grpc $spec.configClient) }}
        - name: grpc-tls
          mountPath: /etc/throughline/grpc-tls
          readOnly: true
        {{- end }}
        {{- if $spec.nats }}
        {{- include "throughline.natsMounts" $root | nindent 8 }}
        {{- end }}
        {{- if $spec.database }}
        {{- include "throughline.databaseMounts" (dict "root" $root "role" .name) | trim | nindent 8 }}
        {{- end }}
        {{- if $spec.redis }}
        {{- include "throughline.redisAuthMount" $root | nindent 8 }}
        {{- include "throughline.dataTlsMount" (dict "root" $root "conn" "redis") | nindent 8 }}
        {{- end }}
        {{- if and (eq .name "config") $root.Values.config.admin.tokensSecret.name }}
        - name: config-admin
          mountPath: /etc/throughline/config-admin
          readOnly: true
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if and $root.Values.grpcTls.enabled (or $spec.grpc $spec.configClient) }}
    - name: grpc-tls
      secret:
        {{- /* A mounted Secret follows its updates (cert-manager renewals): the services re-read the files. */}}
        secretName: {{ required "grpcTls.secretName is required when grpcTls.enabled" $root.Values.grpcTls.secretName }}
        defaultMode: 288 {{- /* 0440, in decimal: YAML 1.1 and 1.2 read a leading zero differently */}}
    {{- end }}
    {{- if $spec.nats }}
    {{- include "throughline.natsVolumes" $root | nindent 4 }}
    {{- end }}
    {{- if $spec.database }}
    {{- include "throughline.databaseVolumes" (dict "root" $root "role" .name) | trim | nindent 4 }}
    {{- end }}
    {{- if $spec.redis }}
    {{- include "throughline.redisAuthVolume" $root | nindent 4 }}
    {{- include "throughline.dataTlsVolume" (dict "root" $root "conn" "redis") | nindent 4 }}
    {{- end }}
    {{- if and (eq .name "config") $root.Values.config.admin.tokensSecret.name }}
    - name: config-admin
      secret:
        {{- /* A mounted Secret follows its updates: tokens added or revoked count at the next Put. */}}
        secretName: {{ tpl $root.Values.config.admin.tokensSecret.name $root }}
        defaultMode: 288 {{- /* 0440, in decimal: YAML 1.1 and 1.2 read a leading zero differently */}}
        items:
          - key: {{ $root.Values.config.admin.tokensSecret.key }}
            path: {{ $root.Values.config.admin.tokensSecret.key }}
    {{- end }}
  {{- with coalesce $svc.nodeSelector $root.Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with coalesce $svc.affinity $root.Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with coalesce $svc.tolerations $root.Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $svc.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
