{{/* vim: set filetype=mustache: */}}

{{/* The chart name. */}}
{{- define "huike.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release-qualified name; the release name alone when it already contains the chart name. */}}
{{- define "huike.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "huike.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "huike.selectorLabels" -}}
app.kubernetes.io/name: {{ include "huike.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "huike.labels" -}}
helm.sh/chart: {{ include "huike.chart" . }}
{{ include "huike.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: huike
{{- end -}}

{{/*
Per-service names and labels. Call with (dict "root" $ "name" "identity").
*/}}
{{- define "huike.componentName" -}}
{{- printf "%s-%s" (include "huike.fullname" .root | trunc 50 | trimSuffix "-") .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "huike.componentSelectorLabels" -}}
{{ include "huike.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "huike.componentLabels" -}}
{{ include "huike.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/*
A service's values: serviceDefaults with the service's own entry merged over them.
Call with (dict "root" $ "name" "identity"); returns YAML, use with fromYaml.
*/}}
{{- define "huike.serviceValues" -}}
{{- $own := index .root.Values.services .name | default dict -}}
{{- mergeOverwrite (deepCopy .root.Values.serviceDefaults) (deepCopy $own) | toYaml -}}
{{- end -}}

{{/* repository@digest when a digest is given (the tag is then ignored), else repository:tag. */}}
{{- define "huike.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}
{{- end -}}

{{- define "huike.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "huike.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret the services read; an existing one, or the one this chart makes. */}}
{{- define "huike.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- include "huike.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* The Secret the migrations Job reads: the existing one, or a hook Secret made just for it. */}}
{{- define "huike.migrateSecretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- printf "%s-migrate" (include "huike.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
Names of the bundled subcharts' Services (their charts' standard fullname rule).
*/}}
{{- define "huike.subchartFullname" -}}
{{- $values := .values -}}
{{- if $values.fullnameOverride -}}
{{- $values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .chart $values.nameOverride -}}
{{- if contains $name .root.Release.Name -}}
{{- .root.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .root.Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "huike.postgresql.host" -}}
{{- include "huike.subchartFullname" (dict "root" . "chart" "postgresql" "values" .Values.postgresql) -}}
{{- end -}}

{{- define "huike.nats.host" -}}
{{- include "huike.subchartFullname" (dict "root" . "chart" "nats" "values" .Values.nats) -}}
{{- end -}}

{{- define "huike.meilisearch.host" -}}
{{- include "huike.subchartFullname" (dict "root" . "chart" "meilisearch" "values" .Values.meilisearch) -}}
{{- end -}}

{{/* HUIKE_NATS_URL */}}
{{- define "huike.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- printf "nats://%s.%s.svc:4222" (include "huike.nats.host" .) .Release.Namespace -}}
{{- else -}}
{{- .Values.externalNats.url -}}
{{- end -}}
{{- end -}}

{{/* HUIKE_MEILISEARCH_URL */}}
{{- define "huike.meilisearchUrl" -}}
{{- if .Values.meilisearch.enabled -}}
{{- printf "http://%s.%s.svc:7700" (include "huike.meilisearch.host" .) .Release.Namespace -}}
{{- else -}}
{{- .Values.externalMeilisearch.url -}}
{{- end -}}
{{- end -}}

{{/* HUIKE_SEARCH_ENGINE: explicit, else meilisearch when a Meilisearch URL is configured. */}}
{{- define "huike.searchEngine" -}}
{{- if .Values.config.searchEngine -}}
{{- .Values.config.searchEngine -}}
{{- else if include "huike.meilisearchUrl" . -}}
meilisearch
{{- else -}}
postgres
{{- end -}}
{{- end -}}

{{/* The NATS cluster's size: the bundled chart's replicas, else externalNats.clusterSize. */}}
{{- define "huike.natsClusterSize" -}}
{{- if .Values.nats.enabled -}}
{{- if .Values.nats.config.cluster.enabled }}{{ .Values.nats.config.cluster.replicas | int }}{{ else }}1{{ end -}}
{{- else -}}
{{- .Values.externalNats.clusterSize | int -}}
{{- end -}}
{{- end -}}

{{/* ingress-nginx's proxy-body-size: the import limit in MiB, rounded up, plus 1 MiB for the multipart envelope. */}}
{{- define "huike.proxyBodySize" -}}
{{- $mib := 1048576 -}}
{{- printf "%dm" (add (div (add (.Values.config.importMaxBytes | int64) (sub $mib 1)) $mib) 1) -}}
{{- end -}}

{{/* HUIKE_NATS_STREAM_REPLICAS: explicit value, else the bundled cluster's size, else 1. */}}
{{- define "huike.natsStreamReplicas" -}}
{{- if .Values.config.natsStreamReplicas -}}
{{- .Values.config.natsStreamReplicas | int -}}
{{- else if and .Values.nats.enabled .Values.nats.config.cluster.enabled -}}
{{- min 5 (.Values.nats.config.cluster.replicas | int) -}}
{{- else -}}
1
{{- end -}}
{{- end -}}

{{/* HUIKE_DATABASE_URL (runtime role) when the chart makes the Secret. */}}
{{- define "huike.databaseUrl" -}}
{{- if .Values.secrets.databaseUrl -}}
{{- .Values.secrets.databaseUrl -}}
{{- else if .Values.postgresql.enabled -}}
{{- $password := required "database.appPassword is required with the bundled PostgreSQL (postgresql.enabled=true)" .Values.database.appPassword -}}
{{- printf "postgresql://%s:%s@%s.%s.svc:5432/%s" .Values.database.appRole ($password | urlquery | replace "+" "%20") (include "huike.postgresql.host" .) .Release.Namespace .Values.postgresql.auth.database -}}
{{- else -}}
{{- required "secrets.databaseUrl (or secrets.existingSecret) is required: the postgresql:// URL of the runtime role" .Values.secrets.databaseUrl -}}
{{- end -}}
{{- end -}}

{{/* HUIKE_DATABASE_OWNER_URL (owner role) when the chart makes the migrations Secret. */}}
{{- define "huike.databaseOwnerUrl" -}}
{{- if .Values.secrets.databaseOwnerUrl -}}
{{- .Values.secrets.databaseOwnerUrl -}}
{{- else if .Values.postgresql.enabled -}}
{{- $password := required "postgresql.auth.password (the owner role's password) is required with the bundled PostgreSQL" .Values.postgresql.auth.password -}}
{{- printf "postgresql://%s:%s@%s.%s.svc:5432/%s" .Values.postgresql.auth.username ($password | urlquery | replace "+" "%20") (include "huike.postgresql.host" .) .Release.Namespace .Values.postgresql.auth.database -}}
{{- else -}}
{{- required "secrets.databaseOwnerUrl (or secrets.existingSecret) is required: the postgresql:// URL of the owner role, for migrations" .Values.secrets.databaseOwnerUrl -}}
{{- end -}}
{{- end -}}

{{/*
Checks that fail the render with one clear line. Included from the ConfigMap.
*/}}
{{- define "huike.validate" -}}
{{- if and .Values.postgresql.enabled (or .Values.secrets.databaseUrl .Values.secrets.databaseOwnerUrl) -}}
{{- fail "PostgreSQL is both bundled and external: set postgresql.enabled=false to use secrets.databaseUrl/databaseOwnerUrl, or remove those to use the bundled one" -}}
{{- end -}}
{{- if and .Values.nats.enabled .Values.externalNats.url -}}
{{- fail "NATS is both bundled and external: set nats.enabled=false to use externalNats.url, or empty externalNats.url to use the bundled one" -}}
{{- end -}}
{{- if and .Values.meilisearch.enabled .Values.externalMeilisearch.url -}}
{{- fail "Meilisearch is both bundled and external: set meilisearch.enabled=false to use externalMeilisearch.url, or empty externalMeilisearch.url to use the bundled one" -}}
{{- end -}}
{{- if and (eq (include "huike.searchEngine" .) "meilisearch") (not (include "huike.meilisearchUrl" .)) -}}
{{- fail "config.searchEngine=meilisearch needs a Meilisearch: set externalMeilisearch.url or meilisearch.enabled=true, or config.searchEngine=postgres" -}}
{{- end -}}
{{- if and (eq .Values.fileStore.type "s3") (not .Values.fileStore.s3.bucket) -}}
{{- fail "fileStore.type=s3 needs fileStore.s3.bucket (the bucket of bulk files and attachments), or set fileStore.type=postgres" -}}
{{- end -}}
{{- $replicas := include "huike.natsStreamReplicas" . | int -}}
{{- $cluster := include "huike.natsClusterSize" . | int -}}
{{- if gt $replicas $cluster -}}
{{- fail (printf "config.natsStreamReplicas=%d is above the NATS cluster size %d: lower it, or raise %s" $replicas $cluster (ternary "nats.config.cluster.replicas" "externalNats.clusterSize" .Values.nats.enabled)) -}}
{{- end -}}
{{- if not (include "huike.natsUrl" .) -}}
{{- fail "externalNats.url is required (or nats.enabled=true): huike serve needs HUIKE_NATS_URL" -}}
{{- end -}}
{{- if and .Values.postgresql.enabled (ne .Values.postgresql.auth.username .Values.database.ownerRole) -}}
{{- fail "postgresql.auth.username must equal database.ownerRole" -}}
{{- end -}}
{{- if and .Values.postgresql.enabled (ne .Values.postgresql.auth.database .Values.database.name) -}}
{{- fail "postgresql.auth.database must equal database.name" -}}
{{- end -}}
{{- if and .Values.ingress.enabled .Values.ingress.fallbackService -}}
{{- $fallback := index .Values.services .Values.ingress.fallbackService | default dict -}}
{{- if not $fallback.enabled -}}
{{- fail (printf "ingress.fallbackService %q is not an enabled service" .Values.ingress.fallbackService) -}}
{{- end -}}
{{- end -}}
{{- range $name, $svc := .Values.services -}}
{{- if not (regexMatch "^[a-z][a-z0-9-]*$" $name) -}}
{{- fail (printf "services.%s: a service name is lower-case letters, digits and '-'" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Pod-level settings shared by the Deployments and the migrations Job (which sets its own service
account: a pre-install hook runs before the chart's ServiceAccount exists).
*/}}
{{- define "huike.podSecurity" -}}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The secretKeyRef of HUIKE_MEILISEARCH_KEY: the key given in values or the existing Secret, else the
bundled Meilisearch chart's generated master key, else an optional key that may be absent.
*/}}
{{- define "huike.meilisearchKeyRef" -}}
{{- if and .Values.meilisearch.enabled (not .Values.secrets.meilisearchKey) (not .Values.secrets.existingSecret) -}}
{{- $existing := dig "auth" "existingMasterKeySecret" "" .Values.meilisearch | toString -}}
name: {{ ternary (tpl $existing .) (printf "%s-master-key" (include "huike.meilisearch.host" .)) (ne $existing "") }}
key: MEILI_MASTER_KEY
{{- else -}}
name: {{ include "huike.secretName" . }}
key: HUIKE_MEILISEARCH_KEY
optional: true
{{- end -}}
{{- end -}}
