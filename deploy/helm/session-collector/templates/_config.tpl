{{/*
The collector's config for each component, as `session-collector validate` reads it. Values
that differ per pod or are secret are ${env:...} references, set by the container's env
(sc.container): SESSION_COLLECTOR_KEYS_FILE, SESSION_COLLECTOR_DATA_DIR,
SESSION_COLLECTOR_MEMORY_LIMIT_MIB, POD_NAME, KAFKA_BROKERS, KAFKA_SASL_USERNAME,
KAFKA_SASL_PASSWORD, CLICKHOUSE_ENDPOINT, CLICKHOUSE_DATABASE, CLICKHOUSE_USER,
CLICKHOUSE_PASSWORD. Ports are the pod's own: health_check on 13133, metrics on 8888.
*/}}

{{- define "sc.config.edge" -}}
# edge: OTLP in (HTTP 4318, gRPC 4317), sessions derived and secrets masked, out to Kafka
# (config/edge.yaml). Rendered by the session-collector Helm chart.
extensions:
  apikeys:
    keys_file: ${env:SESSION_COLLECTOR_KEYS_FILE}
    reload_interval: {{ .Values.apiKeys.reloadInterval }}
  health_check:
    endpoint: 0.0.0.0:13133
    path: /

receivers:
  otlp:
    endpoint: 0.0.0.0:4318
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
    auth: apikeys

processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: ${env:SESSION_COLLECTOR_MEMORY_LIMIT_MIB}
  cowork: {}
  redaction: {}

exporters:
  kafka:
    {{- include "sc.kafkaClientConfig" . | nindent 4 }}
    topic: {{ .Values.kafka.topic }}
    encoding: otlp_proto
    key_attributes: [session.id]
    compression: {{ .Values.edge.compression }}
    acks: all
    max_message_bytes: 1000000
    timeout: 5s
    sending_queue:
      storage: ${env:SESSION_COLLECTOR_DATA_DIR}/queue
      queue_size: {{ .Values.edge.queue.queueSize }}
    retry_on_failure:
      initial_interval: 1s
      max_interval: 30s

service:
  extensions: [apikeys, health_check]
  telemetry:
    logs: {level: {{ .Values.logs.level }}, encoding: {{ .Values.logs.encoding }}}
    metrics: {address: "0.0.0.0:8888"}
  pipelines:
    logs:
      receivers: [otlp]
      processors: [memory_limiter, cowork, redaction]
      exporters: [kafka]
    metrics:
      receivers: [otlp]
      processors: [memory_limiter]
      exporters: [kafka]
    traces:
      receivers: [otlp]
      processors: [memory_limiter, redaction]
      exporters: [kafka]
{{- end -}}

{{- define "sc.config.storage" -}}
# storage: one of a consumer group reading the edges' topics into a ClickHouse server, and
# the sessions API on 4320 (config/storage.yaml). Rendered by the session-collector Helm chart.
extensions:
  apikeys:
    keys_file: ${env:SESSION_COLLECTOR_KEYS_FILE}
    reload_interval: {{ .Values.apiKeys.reloadInterval }}
  sessions_api:
    endpoint: 0.0.0.0:4320
    auth: apikeys
    required_role: {{ .Values.sessionsApi.requiredRole }}
    storage: clickhouse
    console: {{ .Values.sessionsApi.console }}
  health_check:
    endpoint: 0.0.0.0:13133
    path: /

receivers:
  kafka:
    {{- include "sc.kafkaClientConfig" . | nindent 4 }}
    topics: [{{ .Values.kafka.topic }}]
    group_id: {{ .Values.kafka.groupId }}
    initial_offset: earliest
    encoding: otlp_proto
    dead_letter_topic: {{ .Values.kafka.deadLetterTopic }}
    max_batch_records: {{ .Values.storage.batchSize }}

processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: ${env:SESSION_COLLECTOR_MEMORY_LIMIT_MIB}
  batch:
    send_batch_size: {{ .Values.storage.batchSize }}
    timeout: 200ms

exporters:
  clickhouse:
    endpoint: ${env:CLICKHOUSE_ENDPOINT}
    username: ${env:CLICKHOUSE_USER}
    password: ${env:CLICKHOUSE_PASSWORD}
    database: ${env:CLICKHOUSE_DATABASE}
    create_schema: true
    retry_on_failure:
      initial_interval: 1s
      max_interval: 30s
      max_elapsed_time: 0s

service:
  extensions: [apikeys, sessions_api, health_check]
  telemetry:
    logs: {level: {{ .Values.logs.level }}, encoding: {{ .Values.logs.encoding }}}
    metrics: {address: "0.0.0.0:8888"}
  pipelines:
    logs:
      receivers: [kafka]
      processors: [memory_limiter, batch]
      exporters: [clickhouse]
    metrics:
      receivers: [kafka]
      processors: [memory_limiter, batch]
      exporters: [clickhouse]
    traces:
      receivers: [kafka]
      processors: [memory_limiter, batch]
      exporters: [clickhouse]
{{- end -}}

{{- define "sc.config.all-in-one" -}}
# all in one: OTLP in (HTTP 4318, gRPC 4317), sessions derived, secrets masked, stored in
# embedded ClickHouse (chDB) on the data volume behind a write-ahead disk queue; the
# sessions API on 4320 (config/all-in-one.yaml). Rendered by the session-collector Helm chart.
extensions:
  apikeys:
    keys_file: ${env:SESSION_COLLECTOR_KEYS_FILE}
    reload_interval: {{ .Values.apiKeys.reloadInterval }}
  sessions_api:
    endpoint: 0.0.0.0:4320
    auth: apikeys
    required_role: {{ .Values.sessionsApi.requiredRole }}
    storage: clickhouse
    console: {{ .Values.sessionsApi.console }}
  health_check:
    endpoint: 0.0.0.0:13133
    path: /

receivers:
  otlp:
    endpoint: 0.0.0.0:4318
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
    auth: apikeys

processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: ${env:SESSION_COLLECTOR_MEMORY_LIMIT_MIB}
  cowork: {}
  redaction: {}
  batch:
    send_batch_size: 8192
    timeout: 200ms

exporters:
  clickhouse:
    endpoint: chdb://${env:SESSION_COLLECTOR_DATA_DIR}/clickhouse
    create_schema: true
    ttl: {{ .Values.allInOne.ttl }}
    sending_queue:
      storage: ${env:SESSION_COLLECTOR_DATA_DIR}/queue
      write_ahead: true
    retry_on_failure:
      enabled: true
      initial_interval: 1s
      max_interval: 5s
      max_elapsed_time: 15s

service:
  extensions: [apikeys, sessions_api, health_check]
  telemetry:
    logs: {level: {{ .Values.logs.level }}, encoding: {{ .Values.logs.encoding }}}
    metrics: {address: "0.0.0.0:8888"}
  pipelines:
    logs:
      receivers: [otlp]
      processors: [memory_limiter, cowork, redaction, batch]
      exporters: [clickhouse]
    metrics:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [clickhouse]
    traces:
      receivers: [otlp]
      processors: [memory_limiter, redaction, batch]
      exporters: [clickhouse]
{{- end -}}
