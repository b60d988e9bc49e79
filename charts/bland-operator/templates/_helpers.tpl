{{/*
The name of every object: fullnameOverride, else the release name when it
already holds the chart's name (or nameOverride), else both joined.
*/}}
{{- define "bland-operator.fullname" -}}
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

{{/* The ServiceAccount the manager runs as: the chart's, or one you made. */}}
{{- define "bland-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bland-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image by digest when one is given (the tag is then only a label), else by tag. */}}
{{- define "bland-operator.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "bland-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
control-plane: controller-manager
{{- end -}}

{{- define "bland-operator.labels" -}}
{{ include "bland-operator.selectorLabels" . }}
{{ include "bland-operator.metaLabels" . }}
{{- end -}}

{{/* Labels of objects that are not the manager's Pods (helm test's). */}}
{{- define "bland-operator.testLabels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: self-test
{{ include "bland-operator.metaLabels" . }}
{{- end -}}

{{- define "bland-operator.metaLabels" -}}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The annotations block of an object's metadata: commonAnnotations, and the
object's own when called with (dict "root" $ "extra" $own). Nothing when both
are empty.
*/}}
{{- define "bland-operator.annotations" -}}
{{- $root := . }}
{{- $all := dict }}
{{- if hasKey . "root" }}
{{- $root = .root }}
{{- $all = deepCopy (.extra | default dict) }}
{{- end }}
{{- $all = merge $all (deepCopy ($root.Values.commonAnnotations | default dict)) }}
{{- with $all -}}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* replicaCount, or replicas, its old name, when a user still sets it. */}}
{{- define "bland-operator.replicaCount" -}}
{{- if hasKey .Values "replicas" }}{{ .Values.replicas }}{{ else }}{{ .Values.replicaCount }}{{ end }}
{{- end }}
