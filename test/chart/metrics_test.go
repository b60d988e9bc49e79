package chart

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// monitoringAPIs makes helm template render as for a cluster that serves
// the Prometheus Operator's API (helm install asks the cluster).
var monitoringAPIs = []string{
	"--api-versions", "monitoring.coreos.com/v1/ServiceMonitor",
	"--api-versions", "monitoring.coreos.com/v1/PrometheusRule",
}

// render runs helm template for release bo in namespace ops and returns the
// objects helm install would leave.
func render(t *testing.T, args ...string) []unstructured.Unstructured {
	t.Helper()
	out, _ := helm(t, append([]string{"template", "bo", chartDir, "--namespace", "ops"}, args...)...)
	return release(objects(t, out))
}

func named(objs []unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for i, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return &objs[i]
		}
	}
	return nil
}

// endpoint is the ServiceMonitor's one endpoint.
func endpoint(t *testing.T, objs []unstructured.Unstructured) map[string]any {
	t.Helper()
	sm := find(objs, "ServiceMonitor", "ops")
	if len(sm) != 1 {
		t.Fatalf("%d ServiceMonitors, want 1", len(sm))
	}
	eps, _, _ := unstructured.NestedSlice(sm[0].Object, "spec", "endpoints")
	if len(eps) != 1 {
		t.Fatalf("%d ServiceMonitor endpoints, want 1", len(eps))
	}
	return eps[0].(map[string]any)
}

func TestMetricsDashboardConfigMap(t *testing.T) {
	if cm := named(render(t), "ConfigMap", "bo-bland-operator-dashboard"); cm != nil {
		t.Error("the dashboard ConfigMap rendered though metrics.dashboard.enabled is false by default")
	}
	want, err := os.ReadFile(filepath.Join(root, "config", "grafana", "bland-operator.json"))
	if err != nil {
		t.Fatal(err)
	}
	var wantJSON any
	if err := json.Unmarshal(want, &wantJSON); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, namespace string
		args            []string
		labels          map[string]string
		annotations     map[string]string
	}{
		{name: "defaults", namespace: "ops", args: []string{"--set", "metrics.dashboard.enabled=true"},
			labels: map[string]string{"grafana_dashboard": "1"}},
		{name: "Grafana's namespace, another label, a folder", namespace: "monitoring", args: []string{
			"--set", "metrics.dashboard.enabled=true",
			"--set", "metrics.dashboard.namespace=monitoring",
			"--set", "metrics.dashboard.labels.grafana_dashboard=null",
			"--set", "metrics.dashboard.labels.dashboards=operators",
			"--set", "metrics.dashboard.annotations.grafana_folder=Operators",
			"--set", "commonAnnotations.team=voice"},
			labels:      map[string]string{"dashboards": "operators"},
			annotations: map[string]string{"grafana_folder": "Operators", "team": "voice"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm := named(render(t, tc.args...), "ConfigMap", "bo-bland-operator-dashboard")
			if cm == nil {
				t.Fatal("no dashboard ConfigMap with metrics.dashboard.enabled=true")
			}
			if cm.GetNamespace() != tc.namespace {
				t.Errorf("the ConfigMap is in namespace %q, want %q", cm.GetNamespace(), tc.namespace)
			}
			labels := cm.GetLabels()
			for k, v := range tc.labels {
				if labels[k] != v {
					t.Errorf("label %s is %q, want %q", k, labels[k], v)
				}
			}
			if _, ok := tc.labels["grafana_dashboard"]; !ok && labels["grafana_dashboard"] != "" {
				t.Errorf("grafana_dashboard set to null still labels the ConfigMap: %v", labels)
			}
			if tc.annotations != nil && !reflect.DeepEqual(cm.GetAnnotations(), tc.annotations) {
				t.Errorf("annotations %v, want %v", cm.GetAnnotations(), tc.annotations)
			}
			data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
			if len(data) != 1 {
				t.Fatalf("the ConfigMap holds %d keys, want the dashboard alone", len(data))
			}
			var got any
			if err := json.Unmarshal([]byte(data["bland-operator.json"]), &got); err != nil {
				t.Fatalf("bland-operator.json in the ConfigMap is not JSON: %v", err)
			}
			if !reflect.DeepEqual(got, wantJSON) {
				t.Error("the ConfigMap's dashboard differs from config/grafana/bland-operator.json: run make chart-files")
			}
		})
	}
}

// TestMetricsRenderMode checks metrics.renderMode where the cluster serves
// the Prometheus Operator's API and where it does not: skip leaves the
// ServiceMonitor (with its token) and the PrometheusRule out, fail stops
// with a message naming the API, always renders them anyway.
func TestMetricsRenderMode(t *testing.T) {
	on := []string{"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.prometheusRule.enabled=true"}
	for _, tc := range []struct {
		mode          string
		apis          []string
		monitor, rule bool
	}{
		{mode: "", apis: nil, monitor: false, rule: false}, // the default: skip
		{mode: "skip", apis: nil, monitor: false, rule: false},
		{mode: "skip", apis: monitoringAPIs, monitor: true, rule: true},
		{mode: "skip", apis: monitoringAPIs[:2], monitor: true, rule: false},
		{mode: "always", apis: nil, monitor: true, rule: true},
		{mode: "fail", apis: monitoringAPIs, monitor: true, rule: true},
	} {
		args := append(slices.Clone(on), tc.apis...)
		if tc.mode != "" {
			args = append(args, "--set", "metrics.renderMode="+tc.mode)
		}
		objs := render(t, args...)
		monitor := len(find(objs, "ServiceMonitor", "ops")) == 1 && named(objs, "Secret", "bo-bland-operator-metrics-token") != nil &&
			named(objs, "ServiceAccount", "bo-bland-operator-metrics-scraper") != nil && named(objs, "ClusterRoleBinding", "bo-bland-operator-metrics-scraper") != nil
		rule := len(find(objs, "PrometheusRule", "ops")) == 1
		if monitor != tc.monitor || rule != tc.rule {
			t.Errorf("renderMode %q, APIs %v: ServiceMonitor with its token %v, PrometheusRule %v; want %v and %v", tc.mode, tc.apis, monitor, rule, tc.monitor, tc.rule)
		}
		if !tc.monitor && (named(objs, "Secret", "bo-bland-operator-metrics-token") != nil || named(objs, "ServiceAccount", "bo-bland-operator-metrics-scraper") != nil) {
			t.Errorf("renderMode %q: the scraper's token rendered without its ServiceMonitor", tc.mode)
		}
	}

	for _, tc := range []struct {
		args []string
		kind string
	}{
		{[]string{"--set", "metrics.serviceMonitor.enabled=true"}, "ServiceMonitor"},
		{[]string{"--set", "metrics.prometheusRule.enabled=true"}, "PrometheusRule"},
		{append(slices.Clone(on), monitoringAPIs[:2]...), "PrometheusRule"},
	} {
		args := append([]string{"template", "bo", chartDir, "--set", "metrics.renderMode=fail"}, tc.args...)
		out, err := exec.Command(helmBin, args...).CombinedOutput()
		if err == nil {
			t.Errorf("helm template %v rendered though the cluster serves no %s", tc.args, tc.kind)
			continue
		}
		if !strings.Contains(string(out), "does not serve monitoring.coreos.com/v1 "+tc.kind) {
			t.Errorf("helm template %v failed without saying the cluster does not serve monitoring.coreos.com/v1 %s:\n%s", tc.args, tc.kind, out)
		}
	}
}

func TestMetricsServiceMonitorTLS(t *testing.T) {
	on := append([]string{"--set", "metrics.serviceMonitor.enabled=true"}, monitoringAPIs...)

	t.Run("defaults: the self-signed certificate is not verified", func(t *testing.T) {
		ep := endpoint(t, render(t, on...))
		tls, _ := ep["tlsConfig"].(map[string]any)
		if !reflect.DeepEqual(tls, map[string]any{"insecureSkipVerify": true}) {
			t.Errorf("tlsConfig %v, want insecureSkipVerify alone", tls)
		}
		if ep["honorLabels"] != false || ep["relabelings"] != nil || ep["metricRelabelings"] != nil {
			t.Errorf("endpoint %v: want honorLabels false and no relabelings by default", ep)
		}
	})

	t.Run("a CA from a ConfigMap, a server name, relabelings", func(t *testing.T) {
		ep := endpoint(t, render(t, append(slices.Clone(on),
			"--set", "metrics.serviceMonitor.tlsConfig.ca.configMap.name=metrics-ca",
			"--set", "metrics.serviceMonitor.tlsConfig.ca.configMap.key=ca.pem",
			"--set", "metrics.serviceMonitor.tlsConfig.serverName=metrics.example.internal",
			"--set", "metrics.serviceMonitor.honorLabels=true",
			"--set-json", `metrics.serviceMonitor.relabelings=[{"targetLabel":"cluster","replacement":"eu-1"}]`,
			"--set-json", `metrics.serviceMonitor.metricRelabelings=[{"sourceLabels":["__name__"],"regex":"go_gc_.*","action":"drop"}]`)...))
		want := map[string]any{
			"ca":         map[string]any{"configMap": map[string]any{"name": "metrics-ca", "key": "ca.pem"}},
			"serverName": "metrics.example.internal",
		}
		if !reflect.DeepEqual(ep["tlsConfig"], want) {
			t.Errorf("tlsConfig %v, want %v (and no insecureSkipVerify)", ep["tlsConfig"], want)
		}
		if ep["honorLabels"] != true {
			t.Errorf("honorLabels %v, want true", ep["honorLabels"])
		}
		relabel, _ := ep["relabelings"].([]any)
		metricRelabel, _ := ep["metricRelabelings"].([]any)
		if len(relabel) != 1 || relabel[0].(map[string]any)["targetLabel"] != "cluster" || len(metricRelabel) != 1 || metricRelabel[0].(map[string]any)["action"] != "drop" {
			t.Errorf("relabelings %v and metricRelabelings %v are not the values'", relabel, metricRelabel)
		}
	})

	t.Run("the certificate's Secret gives the CA and the Service the name", func(t *testing.T) {
		for _, tls := range [][]string{
			{"--set", "metrics.tls.secretName=bo-metrics-tls"},
			{"--set", "metrics.tls.secretName=bo-metrics-tls", "--set", "metrics.tls.certManager.enabled=true", "--set", "metrics.tls.certManager.issuerRef.name=ca"},
		} {
			ep := endpoint(t, render(t, append(slices.Clone(on), tls...)...))
			want := map[string]any{
				"ca":         map[string]any{"secret": map[string]any{"name": "bo-metrics-tls", "key": "ca.crt"}},
				"serverName": "bo-bland-operator-metrics.ops.svc",
			}
			if !reflect.DeepEqual(ep["tlsConfig"], want) {
				t.Errorf("%v: tlsConfig %v, want %v (and no insecureSkipVerify)", tls, ep["tlsConfig"], want)
			}
		}
	})
}

// chartRules are the alerting rules of the PrometheusRule the chart renders.
func chartRules(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	objs := render(t, append(append([]string{"--set", "metrics.prometheusRule.enabled=true"}, monitoringAPIs...), args...)...)
	pr := find(objs, "PrometheusRule", "ops")
	if len(pr) != 1 {
		t.Fatalf("%d PrometheusRules, want 1", len(pr))
	}
	groups, _, _ := unstructured.NestedSlice(pr[0].Object, "spec", "groups")
	var out []map[string]any
	for _, g := range groups {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			out = append(out, r.(map[string]any))
		}
	}
	return out
}

// configRules are config/prometheus/alerts.yaml's rules by alert name.
func configRules(t *testing.T) map[string]map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "config", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		Spec struct {
			Groups []struct {
				Rules []map[string]any `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &pr); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			out[r["alert"].(string)] = r
		}
	}
	return out
}

// TestMetricsAlertsInTheChart checks that the PrometheusRule holds
// config/prometheus's alerts, each with extraAlertLabels (its own labels
// winning), selecting this release's job and linking the docs of the
// chart's appVersion; and that the no-leader alert goes with leader election.
func TestMetricsAlertsInTheChart(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &chart); err != nil {
		t.Fatal(err)
	}
	const repo = "https://github.com/bland-operator/bland-operator/blob/"
	config := configRules(t)

	rules := chartRules(t, "--set", "metrics.prometheusRule.extraAlertLabels.team=telephony",
		"--set", "metrics.prometheusRule.extraAlertLabels.severity=page")
	seen := map[string]bool{}
	for _, r := range rules {
		name, _ := r["alert"].(string)
		want, ok := config[name]
		if !ok {
			t.Errorf("the chart has alert %q, which config/prometheus/alerts.yaml has not", name)
			continue
		}
		seen[name] = true
		labels, _ := r["labels"].(map[string]any)
		if labels["team"] != "telephony" {
			t.Errorf("alert %s lacks extraAlertLabels: %v", name, labels)
		}
		if wantSeverity := want["labels"].(map[string]any)["severity"]; labels["severity"] != wantSeverity {
			t.Errorf("alert %s: severity %v, want its own %v over extraAlertLabels", name, labels["severity"], wantSeverity)
		}
		url := r["annotations"].(map[string]any)["runbook_url"].(string)
		wantURL := strings.Replace(want["annotations"].(map[string]any)["runbook_url"].(string), repo+"main/", repo+chart.AppVersion+"/", 1)
		if url != wantURL || !strings.HasPrefix(url, repo+chart.AppVersion+"/docs/") {
			t.Errorf("alert %s: runbook_url %q, want %q (the docs of appVersion %s)", name, url, wantURL, chart.AppVersion)
		}
		expr := r["expr"].(string)
		wantExpr := strings.ReplaceAll(want["expr"].(string), `job=~".*bland-operator.*"`, `job="bo-bland-operator-metrics"`)
		if expr != wantExpr {
			t.Errorf("alert %s: expr\n%s\nwant (config's, selecting the release's job)\n%s", name, expr, wantExpr)
		}
	}
	for name := range config {
		if !seen[name] {
			t.Errorf("alert %s of config/prometheus/alerts.yaml is not in the chart: run make chart-files", name)
		}
	}

	for _, r := range chartRules(t, "--set", "leaderElection.enabled=false", "--set", "replicaCount=1") {
		if r["alert"] == "BlandOperatorNoLeader" {
			t.Error("BlandOperatorNoLeader is in the chart though leader election is off: no replica would ever lead")
		}
	}
}

// tlsProbe is a Deployment shaped like the chart's, including the metrics
// certificate templates exactly as templates/deployment.yaml must: the args
// right after an args line, volumeMounts and volumes only when there is
// something to mount.
const tlsProbe = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: metrics-tls-probe
spec:
  selector:
    matchLabels: {probe: metrics-tls}
  template:
    metadata:
      labels: {probe: metrics-tls}
    spec:
      containers:
      - name: manager
        image: probe
        args:
        - --metrics-secure={{ .Values.manager.metricsSecure }}
        {{- include "bland-operator.metricsCertArgs" . }}
        resources: {}
        {{- with include "bland-operator.metricsCertVolumeMounts" . }}
        volumeMounts:
        {{- . }}
        {{- end }}
      {{- with include "bland-operator.metricsCertVolumes" . }}
      volumes:
      {{- . }}
      {{- end }}
`

// TestMetricsCertificateAndTheManagersMount checks the cert-manager
// Certificate (named for every name of the metrics Service) and what the
// manager gets with metrics.tls: the Secret mounted, and the flags naming
// the mount and its files. The Deployment template includes the chart's
// named templates for these; a copy of the chart with a probe Deployment
// including them the same way checks them whatever the Deployment does.
func TestMetricsCertificateAndTheManagersMount(t *testing.T) {
	objs := render(t, "--set", "metrics.tls.certManager.enabled=true",
		"--set", "metrics.tls.certManager.issuerRef.kind=ClusterIssuer", "--set", "metrics.tls.certManager.issuerRef.name=internal-ca")
	certs := find(objs, "Certificate", "ops")
	if len(certs) != 1 {
		t.Fatalf("%d Certificates, want 1", len(certs))
	}
	dnsNames, _, _ := unstructured.NestedStringSlice(certs[0].Object, "spec", "dnsNames")
	wantNames := []string{"bo-bland-operator-metrics", "bo-bland-operator-metrics.ops", "bo-bland-operator-metrics.ops.svc", "bo-bland-operator-metrics.ops.svc.cluster.local"}
	if !slices.Equal(dnsNames, wantNames) {
		t.Errorf("the Certificate names %v, want the metrics Service's names %v", dnsNames, wantNames)
	}
	if svc := named(objs, "Service", "bo-bland-operator-metrics"); svc == nil {
		t.Error("no Service bo-bland-operator-metrics: the Certificate names a Service the chart does not make")
	}
	secret, _, _ := unstructured.NestedString(certs[0].Object, "spec", "secretName")
	issuer, _, _ := unstructured.NestedStringMap(certs[0].Object, "spec", "issuerRef")
	if secret != "bo-bland-operator-metrics-tls" || issuer["kind"] != "ClusterIssuer" || issuer["name"] != "internal-ca" || issuer["group"] != "cert-manager.io" {
		t.Errorf("the Certificate writes %q, signed by %v", secret, issuer)
	}
	if n := len(find(render(t), "Certificate", "*")); n != 0 {
		t.Errorf("%d Certificates by default", n)
	}
	if out, err := exec.Command(helmBin, "template", "bo", chartDir, "--set", "metrics.tls.certManager.enabled=true").CombinedOutput(); err == nil || !strings.Contains(string(out), "issuerRef.name") {
		t.Errorf("certManager without an issuer rendered, or failed without naming issuerRef.name: %v\n%s", err, out)
	}

	probeChart := filepath.Join(t.TempDir(), "bland-operator")
	if err := os.CopyFS(probeChart, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(probeChart, "templates", "zz-metrics-tls-probe.yaml"), []byte(tlsProbe), 0o644); err != nil {
		t.Fatal(err)
	}
	deployment, err := os.ReadFile(filepath.Join(chartDir, "templates", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	wired := strings.Contains(string(deployment), `include "bland-operator.metricsCertArgs"`)
	const mount = "/etc/bland-operator/metrics-certs"
	for _, tc := range []struct {
		name, secret string
		args         []string
	}{
		{name: "no TLS"},
		{name: "an existing Secret", secret: "my-metrics-tls", args: []string{"--set", "metrics.tls.secretName=my-metrics-tls"}},
		{name: "cert-manager", secret: "bo-bland-operator-metrics-tls", args: []string{"--set", "metrics.tls.certManager.enabled=true", "--set", "metrics.tls.certManager.issuerRef.name=ca"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := helm(t, append([]string{"template", "bo", probeChart, "--namespace", "ops"}, tc.args...)...)
			objs := objects(t, out)
			deployments := []*unstructured.Unstructured{named(objs, "Deployment", "metrics-tls-probe")}
			if wired {
				deployments = append(deployments, named(objs, "Deployment", "bo-bland-operator"))
			}
			for _, u := range deployments {
				d := convert[appsv1.Deployment](t, *u)
				pod := d.Spec.Template.Spec
				c := pod.Containers[0]
				var certArgs []string
				for _, a := range c.Args {
					if strings.HasPrefix(a, "--metrics-cert-") {
						certArgs = append(certArgs, a)
					}
				}
				if tc.secret == "" {
					if len(certArgs) != 0 || slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "metrics-certs" }) ||
						slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == "metrics-certs" }) {
						t.Errorf("%s without metrics.tls: args %v, mounts %v, volumes %v", d.Name, certArgs, c.VolumeMounts, pod.Volumes)
					}
					continue
				}
				wantArgs := []string{"--metrics-cert-path=" + mount, "--metrics-cert-name=tls.crt", "--metrics-cert-key=tls.key"}
				if !slices.Equal(certArgs, wantArgs) {
					t.Errorf("%s: manager args %v, want %v", d.Name, certArgs, wantArgs)
				}
				var mounted, volume bool
				for _, m := range c.VolumeMounts {
					mounted = mounted || (m.Name == "metrics-certs" && m.MountPath == mount && m.ReadOnly)
				}
				for _, v := range pod.Volumes {
					volume = volume || (v.Name == "metrics-certs" && v.Secret != nil && v.Secret.SecretName == tc.secret)
				}
				if !mounted || !volume {
					t.Errorf("%s: Secret %s is not mounted read-only at %s: mounts %v, volumes %v", d.Name, tc.secret, mount, c.VolumeMounts, pod.Volumes)
				}
			}
		})
	}
	out, err := exec.Command(helmBin, "template", "bo", probeChart, "--set", "metrics.tls.secretName=x", "--set", "manager.metricsSecure=false").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "manager.metricsSecure") {
		t.Errorf("metrics.tls with plain HTTP metrics rendered, or failed without naming manager.metricsSecure: %v\n%s", err, out)
	}
}
