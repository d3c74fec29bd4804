{{/*
Connection settings. Each of nats, redis and database resolves, in order, to: its own existingSecret, the
shared connections.existingSecret, its `url` with the password from `passwordSecret`, or its `url` kept in the
Secret this chart makes. Otherwise the render fails and says what to set. Secret names and URLs are rendered
with tpl, so an umbrella chart can name the services of its own release (throughline-stack does).
Call with (dict "root" $ "conn" "nats" "env" "NATS_URL").
*/}}
{{- define "throughline.connectionEnv" -}}
{{- $root := .root }}
{{- $c := index $root.Values.connections .conn }}
{{- $secret := coalesce $c.existingSecret $root.Values.connections.existingSecret }}
{{- $password := include "throughline.passwordEnv" (dict "conn" .conn) }}
{{- $passwordSecret := $c.passwordSecret | default dict }}
{{- if $secret }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ tpl $secret $root }}
      key: {{ $c.key }}
{{- else if and $c.url $passwordSecret.name $passwordSecret.asFile }}
{{- if ne .conn "database" }}
{{- fail (printf "connections.%s.passwordSecret.asFile: only the database password can be read from a file" .conn) }}
{{- end }}
{{- if contains "$(" $c.url }}
{{- fail "connections.database.url must hold no password when connections.database.passwordSecret.asFile is set (the services read it from the mounted file)" }}
{{- end }}
{{- /* A mounted Secret follows its updates: the services read the file for every new connection (rotation). */}}
- name: DATABASE_PASSWORD_FILE
  value: {{ include "throughline.databasePasswordFile" . | quote }}
- name: {{ .env }}
  value: {{ tpl $c.url $root | quote }}
{{- else if and $c.url $passwordSecret.name }}
{{- /* Kubernetes expands $(VAR) only in plain values: the URL names the variable, the password stays a Secret's. */}}
{{- if not (contains (printf "$(%s)" $password) $c.url) }}
{{- fail (printf "connections.%s.url must refer to the password as $(%s) when connections.%s.passwordSecret is set" .conn $password .conn) }}
{{- end }}
- name: {{ $password }}
  valueFrom:
    secretKeyRef:
      name: {{ tpl $passwordSecret.name $root }}
      key: {{ required (printf "connections.%s.passwordSecret.key: the key of the password in that Secret" .conn) $passwordSecret.key }}
- name: {{ .env }}
  value: {{ tpl $c.url $root | quote }}
{{- else if $c.url }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ printf "%s-connections" (include "throughline.fullname" $root) }}
      key: {{ $c.key }}
{{- else }}
{{- required (printf "connections.%s: set url (stored in a Secret by this chart), existingSecret (a Secret with key %s) or connections.existingSecret" .conn $c.key) "" }}
{{- end }}
{{- end }}

{{/* Where a pod finds the database password with connections.database.passwordSecret.asFile. */}}
{{- define "throughline.databasePasswordFile" -}}
/etc/throughline/database/password
{{- end }}

{{/* Whether the database password is mounted as a file: "true" or "". (dict "root" $) */}}
{{- define "throughline.databasePasswordAsFile" -}}
{{- $c := .root.Values.connections.database }}
{{- if and (not (coalesce $c.existingSecret .root.Values.connections.existingSecret)) $c.url (dig "passwordSecret" "name" "" $c) (dig "passwordSecret" "asFile" false $c) }}true{{ end }}
{{- end }}

{{/* The volume of the database password file. (dict "root" $) */}}
{{- define "throughline.databasePasswordVolume" -}}
- name: database-password
  secret:
    secretName: {{ tpl .root.Values.connections.database.passwordSecret.name .root }}
    items:
      - key: {{ required "connections.database.passwordSecret.key: the key of the password in that Secret" .root.Values.connections.database.passwordSecret.key }}
        path: password
    defaultMode: 288 {{- /* 0440, written in decimal: YAML 1.1 and 1.2 read a leading zero differently */}}
{{- end }}

{{/* The variable a connection URL refers to for its password: TL_NATS_PASSWORD, ... (dict "conn" "redis") */}}
{{- define "throughline.passwordEnv" -}}
{{- printf "TL_%s_PASSWORD" (upper .conn) }}
{{- end }}

{{/* Whether the chart keeps this connection's URL in its own Secret (a url, no existingSecret, no passwordSecret). */}}
{{- define "throughline.urlInChartSecret" -}}
{{- $c := index .root.Values.connections .conn }}
{{- if and $c.url (not (coalesce $c.existingSecret .root.Values.connections.existingSecret)) (not (dig "passwordSecret" "name" "" $c)) }}true{{ end }}
{{- end }}

{{/* The OTLP endpoint: telemetry.otlpEndpoint (rendered with tpl), or none. */}}
{{- define "throughline.otlpEndpoint" -}}
{{- with .Values.telemetry.otlpEndpoint }}
{{- tpl . $ }}
{{- end }}
{{- end }}

{{/* The URL KEDA reads each stage's lag from: keda.lagUrl (rendered with tpl), else ingest's /lag in the cluster. */}}
{{- define "throughline.lagUrl" -}}
{{- with .Values.keda.lagUrl }}
{{- tpl . $ }}
{{- else }}
{{- printf "http://%s.%s.svc:%d/lag" (include "throughline.componentName" (dict "root" $ "name" "ingest")) $.Release.Namespace (int $.Values.httpPort) }}
{{- end }}
{{- end }}

{{/* NATS credentials and TLS: the environment that points the services at the mounted files. (root) */}}
{{- define "throughline.natsAuthEnv" -}}
{{- $auth := .Values.connections.nats.auth | default dict }}
{{- $method := $auth.method | default "none" }}
{{- if ne $method "none" }}
{{- $_ := required (printf "connections.nats.auth.secretName: the Secret holding the NATS %s" $method) $auth.secretName }}
{{- end }}
{{- if eq $method "password" }}
- name: NATS_USER
  value: {{ required "connections.nats.auth.user: the NATS user whose password the Secret holds" $auth.user | quote }}
- name: NATS_PASSWORD_FILE
  value: /etc/throughline/nats/password
{{- else if eq $method "token" }}
- name: NATS_TOKEN_FILE
  value: /etc/throughline/nats/token
{{- else if eq $method "nkey" }}
- name: NATS_NKEY_SEED_FILE
  value: /etc/throughline/nats/nkey.seed
{{- else if eq $method "creds" }}
- name: NATS_CREDS_FILE
  value: /etc/throughline/nats/user.creds
{{- end }}
{{- with .Values.connections.nats.tls }}
{{- if .secretName }}
- name: NATS_TLS_CA_FILE
  value: /etc/throughline/nats-tls/ca.crt
{{- if .clientCert }}
- name: NATS_TLS_CERT_FILE
  value: /etc/throughline/nats-tls/tls.crt
- name: NATS_TLS_KEY_FILE
  value: /etc/throughline/nats-tls/tls.key
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The mounts of NATS credentials and TLS. (root) */}}
{{- define "throughline.natsMounts" -}}
{{- if ne (.Values.connections.nats.auth.method | default "none") "none" }}
- name: nats-auth
  mountPath: /etc/throughline/nats
  readOnly: true
{{- end }}
{{- if .Values.connections.nats.tls.secretName }}
- name: nats-tls
  mountPath: /etc/throughline/nats-tls
  readOnly: true
{{- end }}
{{- end }}

{{/* The volumes of NATS credentials and TLS. (root) */}}
{{- define "throughline.natsVolumes" -}}
{{- if ne (.Values.connections.nats.auth.method | default "none") "none" }}
- name: nats-auth
  secret:
    secretName: {{ tpl .Values.connections.nats.auth.secretName . }}
    defaultMode: 288 {{- /* 0440 */}}
{{- end }}
{{- with .Values.connections.nats.tls.secretName }}
- name: nats-tls
  secret:
    secretName: {{ tpl . $ }}
    defaultMode: 288 {{- /* 0440 */}}
{{- end }}
{{- end }}

{{/*
TLS to Redis or PostgreSQL from a Secret (connections.<conn>.tls: ca.crt, and tls.crt/tls.key with clientCert, as
cert-manager makes them), mounted at /etc/throughline/<conn>-tls. (dict "root" $ "conn" "redis" "prefix" "REDIS")
*/}}
{{- define "throughline.dataTlsEnv" -}}
{{- with (index .root.Values.connections .conn).tls }}
{{- if .secretName }}
- name: {{ $.prefix }}_TLS_CA_FILE
  value: {{ printf "/etc/throughline/%s-tls/ca.crt" $.conn | quote }}
{{- if .clientCert }}
- name: {{ $.prefix }}_TLS_CERT_FILE
  value: {{ printf "/etc/throughline/%s-tls/tls.crt" $.conn | quote }}
- name: {{ $.prefix }}_TLS_KEY_FILE
  value: {{ printf "/etc/throughline/%s-tls/tls.key" $.conn | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- define "throughline.dataTlsMount" -}}
{{- if (index .root.Values.connections .conn).tls.secretName }}
- name: {{ .conn }}-tls
  mountPath: {{ printf "/etc/throughline/%s-tls" .conn }}
  readOnly: true
{{- end }}
{{- end }}

{{- define "throughline.dataTlsVolume" -}}
{{- with (index .root.Values.connections .conn).tls.secretName }}
- name: {{ $.conn }}-tls
  secret:
    secretName: {{ tpl . $.root }}
    defaultMode: 288 {{- /* 0440 */}}
{{- end }}
{{- end }}

{{/* The Redis ACL user and its password file (connections.redis.username, .passwordFile). (root) */}}
{{- define "throughline.redisAuthEnv" -}}
{{- $r := .Values.connections.redis }}
{{- with $r.username }}
- name: REDIS_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- if $r.passwordFile.secretName }}
- name: REDIS_PASSWORD_FILE
  value: /etc/throughline/redis/password
{{- else if $r.username }}
{{- fail "connections.redis.username needs its password: connections.redis.passwordFile.secretName" }}
{{- end }}
{{- end }}

{{- define "throughline.redisAuthMount" -}}
{{- if .Values.connections.redis.passwordFile.secretName }}
- name: redis-password
  mountPath: /etc/throughline/redis
  readOnly: true
{{- end }}
{{- end }}

{{- define "throughline.redisAuthVolume" -}}
{{- with .Values.connections.redis.passwordFile }}
{{- if .secretName }}
- name: redis-password
  secret:
    {{- /* Mounted, so a rotation reaches the pod; the state service reads it again before each reconnect. */}}
    secretName: {{ tpl .secretName $ }}
    items:
      - key: {{ .key }}
        path: password
    defaultMode: 288 {{- /* 0440 */}}
{{- end }}
{{- end }}
{{- end }}

{{/* Whether the services log in as least-privilege roles (connections.database.roles.enabled): "true" or "". (root) */}}
{{- define "throughline.databaseRoles" -}}
{{- if .Values.connections.database.roles.enabled }}true{{ end }}
{{- end }}

{{/*
With roles: the database env of a pod logging in as its own role (writer, state, config; reader for the test
pod). The URL names the database only; the user is the role, its password the role's key of passwordsSecret,
mounted as a file (rotation without a restart). The owner's password never reaches these pods: a url given with
$(TL_DATABASE_PASSWORD) loses it here. (dict "root" $ "role" "writer")
*/}}
{{- define "throughline.databaseRoleEnv" -}}
{{- $c := .root.Values.connections.database }}
{{- $url := tpl (required "connections.database.roles.url (or connections.database.url): the database URL the services connect to, without a password; each logs in as its own role" (coalesce $c.roles.url $c.url)) .root }}
{{- $url = replace ":$(TL_DATABASE_PASSWORD)@" "@" $url }}
{{- if or (contains "$(" $url) (regexMatch "^[a-z]+://[^/@]*:[^@]*@" $url) (regexMatch "(?i)[?&]password=" $url) }}
{{- fail "connections.database.roles.url (or connections.database.url) must hold no password: with roles, each service logs in as its own role with its own password file" }}
{{- end }}
- name: DATABASE_URL
  value: {{ $url | quote }}
- name: DATABASE_USER
  value: {{ printf "%s_%s" $c.roles.prefix .role | quote }}
- name: DATABASE_PASSWORD_FILE
  value: /etc/throughline/database-role/password
- name: DATABASE_MIGRATE
  value: "off"
{{- end }}

{{- define "throughline.databaseRoleMount" -}}
- name: database-role
  mountPath: /etc/throughline/database-role
  readOnly: true
{{- end }}

{{/* Only the pod's own role's password: key <role> of passwordsSecret, as the file `password`. (dict "root" $ "role" "writer") */}}
{{- define "throughline.databaseRoleVolume" -}}
- name: database-role
  secret:
    secretName: {{ tpl (required "connections.database.roles.passwordsSecret: a Secret with one password per role (keys writer, state, config, reader)" .root.Values.connections.database.roles.passwordsSecret) .root }}
    items:
      - key: {{ .role }}
        path: password
    defaultMode: 288 {{- /* 0440 */}}
{{- end }}

{{/* A pod's database env: its role's with roles, else the connection's. (dict "root" $ "role" "writer") */}}
{{- define "throughline.databaseEnv" -}}
{{- if include "throughline.databaseRoles" .root }}
{{- include "throughline.databaseRoleEnv" . }}
{{- else }}
{{- include "throughline.connectionEnv" (dict "root" .root "conn" "database" "env" "DATABASE_URL") }}
{{- end }}
{{- include "throughline.dataTlsEnv" (dict "root" .root "conn" "database" "prefix" "DATABASE") }}
{{- end }}

{{- define "throughline.databaseMounts" -}}
{{- if include "throughline.databaseRoles" .root }}
{{ include "throughline.databaseRoleMount" . }}
{{- else if include "throughline.databasePasswordAsFile" (dict "root" .root) }}
- name: database-password
  mountPath: /etc/throughline/database
  readOnly: true
{{- end }}
{{- include "throughline.dataTlsMount" (dict "root" .root "conn" "database") }}
{{- end }}

{{- define "throughline.databaseVolumes" -}}
{{- if include "throughline.databaseRoles" .root }}
{{ include "throughline.databaseRoleVolume" . }}
{{- else if include "throughline.databasePasswordAsFile" (dict "root" .root) }}
{{ include "throughline.databasePasswordVolume" (dict "root" .root) }}
{{- end }}
{{- include "throughline.dataTlsVolume" (dict "root" .root "conn" "database") }}
{{- end }}
