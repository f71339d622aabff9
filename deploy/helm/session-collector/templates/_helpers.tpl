{{/* Names, labels and the pieces every workload shares. */}}

{{- define "sc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sc.fullname" -}}
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

{{/* "<fullname>-<component>", cut to fit a DNS label */}}
{{- define "sc.componentName" -}}
{{- printf "%s-%s" (include "sc.fullname" .root | trunc (int (sub 62 (len .component))) | trimSuffix "-") .component -}}
{{- end -}}

{{- define "sc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sc.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "sc.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sc.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Values.image.tag | default .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: session-collector
{{- end -}}

{{/* labels of what belongs to no one component (Secrets, ServiceAccount) */}}
{{- define "sc.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "sc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: session-collector
{{- end -}}

{{- define "sc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sc.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "sc.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* which components run */}}
{{- define "sc.checkMode" -}}
{{- if not (has .Values.mode (list "edgeAndStorage" "allInOne")) -}}
{{- fail (printf "mode must be edgeAndStorage or allInOne, not %q" .Values.mode) -}}
{{- end -}}
{{- end -}}
{{- define "sc.edgeEnabled" -}}
{{- if and (eq .Values.mode "edgeAndStorage") .Values.edge.enabled }}true{{ end -}}
{{- end -}}
{{- define "sc.storageEnabled" -}}
{{- if and (eq .Values.mode "edgeAndStorage") .Values.storage.enabled }}true{{ end -}}
{{- end -}}
{{- define "sc.allInOneEnabled" -}}
{{- if eq .Values.mode "allInOne" }}true{{ end -}}
{{- end -}}

{{/* Secrets: the user's existing one, or the chart's */}}
{{- define "sc.apiKeysSecretName" -}}
{{- .Values.apiKeys.existingSecret | default (printf "%s-api-keys" (include "sc.fullname" .)) -}}
{{- end -}}
{{- define "sc.kafkaSaslSecretName" -}}
{{- .Values.kafka.sasl.existingSecret | default (printf "%s-kafka-sasl" (include "sc.fullname" .)) -}}
{{- end -}}
{{- define "sc.clickhouseSecretName" -}}
{{- .Values.storage.clickhouse.existingSecret | default (printf "%s-clickhouse" (include "sc.fullname" .)) -}}
{{- end -}}

{{/* paths inside the container (the image: /etc/session-collector, /var/lib/session-collector) */}}
{{- define "sc.configPath" -}}/etc/session-collector/config.yaml{{- end -}}
{{- define "sc.keysDir" -}}/etc/session-collector/keys{{- end -}}
{{- define "sc.kafkaCaDir" -}}/etc/session-collector/kafka-ca{{- end -}}
{{- define "sc.kafkaCertDir" -}}/etc/session-collector/kafka-client{{- end -}}
{{- define "sc.dataDir" -}}/var/lib/session-collector{{- end -}}

{{/*
The collector's container. Arguments: root (the chart's context), component (edge,
storage, all-in-one), ports (list of dicts name/port), workers, memoryLimitMiB, resources,
kafka (bool: mounts and env of the Kafka client), clickhouse (bool: ClickHouse server env).
*/}}
{{- define "sc.container" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
- name: collector
  image: {{ include "sc.image" $root | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  args:
    - run
    - --config
    - {{ include "sc.configPath" $root }}
    {{- if gt (int .workers) 1 }}
    - --workers
    - {{ .workers | quote }}
    {{- end }}
  ports:
    {{- range .ports }}
    - name: {{ .name }}
      containerPort: {{ .port }}
      protocol: TCP
    {{- end }}
  env:
    - name: SESSION_COLLECTOR_DATA_DIR
      value: {{ include "sc.dataDir" $root }}
    - name: SESSION_COLLECTOR_KEYS_FILE
      value: {{ printf "%s/%s" (include "sc.keysDir" $root) $v.apiKeys.secretKey }}
    - name: SESSION_COLLECTOR_MEMORY_LIMIT_MIB
      value: {{ .memoryLimitMiB | quote }}
    - name: POD_NAME
      valueFrom:
        fieldRef: {fieldPath: metadata.name}
    {{- if .kafka }}
    - name: KAFKA_BROKERS
      value: {{ join "," $v.kafka.brokers | quote }}
    {{- if $v.kafka.sasl.enabled }}
    - name: KAFKA_SASL_USERNAME
      valueFrom:
        secretKeyRef:
          name: {{ include "sc.kafkaSaslSecretName" $root }}
          key: {{ $v.kafka.sasl.usernameKey }}
    - name: KAFKA_SASL_PASSWORD
      valueFrom:
        secretKeyRef:
          name: {{ include "sc.kafkaSaslSecretName" $root }}
          key: {{ $v.kafka.sasl.passwordKey }}
    {{- end }}
    {{- end }}
    {{- if .clickhouse }}
    - name: CLICKHOUSE_ENDPOINT
      value: {{ $v.storage.clickhouse.endpoint | quote }}
    - name: CLICKHOUSE_DATABASE
      value: {{ $v.storage.clickhouse.database | quote }}
    - name: CLICKHOUSE_USER
      valueFrom:
        secretKeyRef:
          name: {{ include "sc.clickhouseSecretName" $root }}
          key: {{ $v.storage.clickhouse.usernameKey }}
    - name: CLICKHOUSE_PASSWORD
      valueFrom:
        secretKeyRef:
          name: {{ include "sc.clickhouseSecretName" $root }}
          key: {{ $v.storage.clickhouse.passwordKey }}
    {{- end }}
    {{- with $v.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  readinessProbe:
    httpGet: {path: /, port: health}
    {{- toYaml $v.probes.readiness | nindent 4 }}
  livenessProbe:
    httpGet: {path: /, port: health}
    {{- toYaml $v.probes.liveness | nindent 4 }}
  resources:
    {{- toYaml .resources | nindent 4 }}
  securityContext:
    {{- toYaml $v.securityContext | nindent 4 }}
  volumeMounts:
    - name: config
      mountPath: /etc/session-collector/config.yaml
      subPath: config.yaml
      readOnly: true
    - name: api-keys
      mountPath: {{ include "sc.keysDir" $root }}
      readOnly: true
    - name: data
      mountPath: {{ include "sc.dataDir" $root }}
    - name: tmp
      mountPath: /tmp
    {{- if and .kafka $v.kafka.tls.enabled }}
    {{- if or $v.kafka.tls.ca.secretName $v.kafka.tls.ca.configMapName }}
    - name: kafka-ca
      mountPath: {{ include "sc.kafkaCaDir" $root }}
      readOnly: true
    {{- end }}
    {{- if $v.kafka.tls.clientCert.secretName }}
    - name: kafka-client-cert
      mountPath: {{ include "sc.kafkaCertDir" $root }}
      readOnly: true
    {{- end }}
    {{- end }}
{{- end -}}

{{/* The pod's volumes; data is given by the caller (an emptyDir or a claim). */}}
{{- define "sc.volumes" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
- name: config
  configMap:
    name: {{ include "sc.componentName" (dict "root" $root "component" .component) }}
- name: api-keys
  secret:
    secretName: {{ include "sc.apiKeysSecretName" $root }}
    defaultMode: 0440
    items:
      - key: {{ $v.apiKeys.secretKey }}
        path: {{ $v.apiKeys.secretKey }}
- name: data
  {{- toYaml .data | nindent 2 }}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
{{- if and .kafka $v.kafka.tls.enabled }}
{{- if and $v.kafka.tls.ca.secretName $v.kafka.tls.ca.configMapName }}
{{- fail "kafka.tls.ca: give secretName or configMapName, not both" }}
{{- end }}
{{- if $v.kafka.tls.ca.secretName }}
- name: kafka-ca
  secret:
    secretName: {{ $v.kafka.tls.ca.secretName }}
    items:
      - key: {{ $v.kafka.tls.ca.key }}
        path: ca.crt
{{- else if $v.kafka.tls.ca.configMapName }}
- name: kafka-ca
  configMap:
    name: {{ $v.kafka.tls.ca.configMapName }}
    items:
      - key: {{ $v.kafka.tls.ca.key }}
        path: ca.crt
{{- end }}
{{- if $v.kafka.tls.clientCert.secretName }}
- name: kafka-client-cert
  secret:
    secretName: {{ $v.kafka.tls.clientCert.secretName }}
    defaultMode: 0440
    items:
      - {key: tls.crt, path: tls.crt}
      - {key: tls.key, path: tls.key}
{{- end }}
{{- end }}
{{- end -}}

{{/* The Kafka client settings shared by the kafka exporter and receiver (config YAML). */}}
{{- define "sc.kafkaClientConfig" -}}
brokers: ["${env:KAFKA_BROKERS}"]
client_id: "${env:POD_NAME}"
{{- if .Values.kafka.sasl.enabled }}
sasl:
  mechanism: {{ .Values.kafka.sasl.mechanism }}
  username: "${env:KAFKA_SASL_USERNAME}"
  password: "${env:KAFKA_SASL_PASSWORD}"
{{- end }}
{{- if .Values.kafka.tls.enabled }}
tls:
  {{- if or .Values.kafka.tls.ca.secretName .Values.kafka.tls.ca.configMapName }}
  ca_file: {{ include "sc.kafkaCaDir" . }}/ca.crt
  {{- end }}
  {{- if .Values.kafka.tls.clientCert.secretName }}
  cert_file: {{ include "sc.kafkaCertDir" . }}/tls.crt
  key_file: {{ include "sc.kafkaCertDir" . }}/tls.key
  {{- end }}
  insecure_skip_verify: {{ .Values.kafka.tls.insecureSkipVerify }}
{{- end }}
{{- end -}}

{{/* Pod annotations: Prometheus scraping, and a checksum of the config so a change rolls the pods. */}}
{{- define "sc.podAnnotations" -}}
{{- if .root.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: "8888"
prometheus.io/path: /metrics
{{- end }}
checksum/config: {{ .config | sha256sum }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end -}}
