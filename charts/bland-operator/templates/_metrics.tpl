{{/* The metrics Service's name: the job label of its scraped series. */}}
{{- define "bland-operator.metricsServiceName" -}}
{{- include "bland-operator.fullname" . }}-metrics
{{- end -}}

{{/*
The Secret holding the metrics server's certificate (tls.crt, tls.key and
ca.crt): metrics.tls.secretName, else the cert-manager Certificate's. Empty
when metrics are served with the manager's self-signed certificate.
*/}}
{{- define "bland-operator.metricsCertSecret" -}}
{{- if .Values.metrics.tls.secretName -}}
{{- .Values.metrics.tls.secretName -}}
{{- else if .Values.metrics.tls.certManager.enabled -}}
{{- include "bland-operator.fullname" . }}-metrics-tls
{{- end -}}
{{- end -}}

{{/* Where the manager container finds that Secret. */}}
{{- define "bland-operator.metricsCertDir" -}}
/etc/bland-operator/metrics-certs
{{- end -}}

{{/*
The manager's flags for the metrics certificate, as lines of the manager
container's args (indented for it); empty without metrics.tls.
*/}}
{{- define "bland-operator.metricsCertArgs" -}}
{{- if include "bland-operator.metricsCertSecret" . }}
{{- if not .Values.manager.metricsSecure }}
{{- fail "metrics.tls needs manager.metricsSecure=true: the certificate is for HTTPS" }}
{{- end }}
        - --metrics-cert-path={{ include "bland-operator.metricsCertDir" . }}
        - --metrics-cert-name=tls.crt
        - --metrics-cert-key=tls.key
{{- end }}
{{- end -}}

{{/*
The manager container's volumeMounts items for the metrics certificate
(indented for the container); empty without metrics.tls.
*/}}
{{- define "bland-operator.metricsCertVolumeMounts" -}}
{{- if include "bland-operator.metricsCertSecret" . }}
        - name: metrics-certs
          mountPath: {{ include "bland-operator.metricsCertDir" . }}
          readOnly: true
{{- end }}
{{- end -}}

{{/*
The Pod's volumes items for the metrics certificate (indented for the Pod
spec); empty without metrics.tls.
*/}}
{{- define "bland-operator.metricsCertVolumes" -}}
{{- with include "bland-operator.metricsCertSecret" . }}
      - name: metrics-certs
        secret:
          secretName: {{ . }}
{{- end }}
{{- end -}}

{{/*
Whether to render a monitoring.coreos.com/v1 object, called with
(list $ "ServiceMonitor" "serviceMonitor"): "true" where the API server serves
the kind or metrics.renderMode is always; empty with skip; with fail, the
install stops and says why.
*/}}
{{- define "bland-operator.renderMonitoring" -}}
{{- $root := index . 0 -}}
{{- $kind := index . 1 -}}
{{- $value := index . 2 -}}
{{- $mode := $root.Values.metrics.renderMode | default "skip" -}}
{{- if or (eq $mode "always") ($root.Capabilities.APIVersions.Has (printf "monitoring.coreos.com/v1/%s" $kind)) -}}
true
{{- else if eq $mode "fail" -}}
{{- fail (printf "metrics.%s.enabled is true, but the cluster does not serve monitoring.coreos.com/v1 %s: install the Prometheus Operator (its CRDs) first, or set metrics.renderMode to skip (leave it out) or always (render it anyway, e.g. with helm template)" $value $kind) -}}
{{- end -}}
{{- end -}}

{{/*
The ServiceMonitor endpoint's tlsConfig. The CA is metrics.serviceMonitor.
tlsConfig.ca, else ca.crt of the metrics certificate's Secret; the server
name defaults to the metrics Service's when the chart serves a certificate
(Prometheus scrapes Pod IPs, which no certificate names). Without a CA,
Prometheus cannot verify the manager's self-signed certificate and skips
verification.
*/}}
{{- define "bland-operator.serviceMonitorTLS" -}}
{{- $tls := .Values.metrics.serviceMonitor.tlsConfig -}}
{{- $ca := $tls.ca -}}
{{- $serverName := $tls.serverName -}}
{{- with include "bland-operator.metricsCertSecret" . -}}
{{- $ca = $ca | default (dict "secret" (dict "name" . "key" "ca.crt")) -}}
{{- $serverName = $serverName | default (printf "%s.%s.svc" (include "bland-operator.metricsServiceName" $) $.Release.Namespace) -}}
{{- end -}}
{{- if $ca -}}
ca:
  {{- toYaml $ca | nindent 2 }}
{{- else -}}
# No CA to verify the manager's self-signed certificate with.
insecureSkipVerify: true
{{- end }}
{{- with $serverName }}
serverName: {{ . | quote }}
{{- end }}
{{- end -}}
