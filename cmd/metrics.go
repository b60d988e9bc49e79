package main

import (
	"crypto/tls"
	"fmt"
	"path/filepath"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// metricsOptions serves metrics over HTTPS with authentication and
// authorization unless --metrics-secure=false. Without --metrics-cert-path
// the server makes a self-signed certificate at start, which a scraper can
// only skip verifying; with it, the certificate is read from that directory
// and reloaded when it changes (a Secret a cert manager renews), so a
// scraper can verify it against its CA.
func metricsOptions(f flags) (metricsserver.Options, *certwatcher.CertWatcher, error) {
	var tlsOpts []func(*tls.Config)
	if !f.http2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	opts := metricsserver.Options{BindAddress: f.metricsAddr, SecureServing: f.secureMetrics}
	if f.secureMetrics {
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	var watcher *certwatcher.CertWatcher
	if f.metricsCertPath != "" {
		if !f.secureMetrics {
			return opts, nil, fmt.Errorf("--metrics-cert-path is set but --metrics-secure=false serves plain HTTP")
		}
		var err error
		watcher, err = certwatcher.New(filepath.Join(f.metricsCertPath, f.metricsCertName), filepath.Join(f.metricsCertPath, f.metricsCertKey))
		if err != nil {
			return opts, nil, fmt.Errorf("reading the metrics certificate from %s: %w", f.metricsCertPath, err)
		}
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.GetCertificate = watcher.GetCertificate })
		ctrl.Log.WithName("setup").Info("Serving metrics with the certificate in", "path", f.metricsCertPath)
	}
	opts.TLSOpts = tlsOpts
	return opts, watcher, nil
}
