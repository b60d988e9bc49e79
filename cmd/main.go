// Command manager runs the bland-operator controller manager.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/bland-operator/bland-operator/api/v1alpha1"
	"github.com/bland-operator/bland-operator/internal/bland"
	"github.com/bland-operator/bland-operator/internal/controller"
	"github.com/bland-operator/bland-operator/internal/metrics"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type flags struct {
	blandURL, metricsAddr, probeAddr, pprofAddr, watchNamespaces, leaderNamespace string
	leaderIdentity, leaseName                                                     string
	metricsCertPath, metricsCertName, metricsCertKey                              string
	allowInsecure, leaderElect, secureMetrics, http2                              bool
	qps                                                                           float64
	apiTimeout, leaseDuration, renewDeadline, retryPeriod                         time.Duration
	burst, workers, batchSize, detachLimit                                        int
	showVersion, selfTest, manageAccounts, nameOtherNamespaces                    bool
}

func parseFlags() (flags, zap.Options) {
	var f flags
	flag.StringVar(&f.blandURL, "bland-api-url", bland.DefaultBaseURL, "Base URL of the Bland API. Operator-wide: a binding can never redirect the key elsewhere.")
	flag.BoolVar(&f.allowInsecure, "allow-insecure-api-url", false, "Allow a plain http:// --bland-api-url (tests and the local demo only).")
	flag.Float64Var(&f.qps, "api-qps", 5, "Calls per second to Bland for each account (API key): each has its own token bucket and adapts its own pace to its 429s. Negative turns it off.")
	flag.IntVar(&f.burst, "api-burst", 10, "Burst of calls to Bland for each account (token bucket size).")
	flag.IntVar(&f.workers, "max-concurrent-reconciles", 4, "Personas reconciled in parallel (all bindings of one persona are one reconcile).")
	flag.DurationVar(&f.apiTimeout, "api-timeout", 30*time.Second, "Longest a call to Bland may take, reading the answer included.")
	flag.IntVar(&f.batchSize, "api-batch-size", 100, "Most numbers sent in one attach or detach call.")
	flag.BoolVar(&f.nameOtherNamespaces, "name-other-namespaces", false, "Let statuses and events name PersonaBindings of other namespaces (a single-team cluster). Off, a tenant is told a number is held by a PersonaBinding in another namespace, not which.")
	flag.IntVar(&f.detachLimit, "default-detach-limit", 0, "Most numbers one reconcile may detach without approval, for bindings without spec.detachLimit (0: no limit).")
	flag.StringVar(&f.watchNamespaces, "watch-namespaces", "", "Comma-separated namespaces to watch; empty watches all.")
	flag.StringVar(&f.metricsAddr, "metrics-bind-address", "0", "Address of the metrics endpoint (:8443 for HTTPS, :8080 for HTTP, 0 to turn it off).")
	flag.BoolVar(&f.secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with authentication and authorization.")
	flag.StringVar(&f.metricsCertPath, "metrics-cert-path", "", "Directory holding the metrics server's certificate and key, reloaded when they change; empty: a self-signed certificate made at start.")
	flag.StringVar(&f.metricsCertName, "metrics-cert-name", "tls.crt", "File name of the metrics certificate in --metrics-cert-path.")
	flag.StringVar(&f.metricsCertKey, "metrics-cert-key", "tls.key", "File name of the metrics certificate's key in --metrics-cert-path.")
	flag.BoolVar(&f.http2, "enable-http2", false, "Serve metrics over HTTP/2 as well (off: protects against HTTP/2 stream attacks).")
	flag.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "Address of /healthz and /readyz.")
	flag.StringVar(&f.pprofAddr, "pprof-bind-address", "0", "Address of Go's profiling endpoints (/debug/pprof), unauthenticated: bind it to localhost and port-forward (0 to turn it off).")
	flag.BoolVar(&f.manageAccounts, "manage-accounts", true, "Keep ClusterBlandAccounts' status and deletion hold. Of two managers in a cluster (two releases, each with --watch-namespaces), exactly one should; with --watch-namespaces it counts the bindings of every namespace.")
	flag.BoolVar(&f.leaderElect, "leader-elect", false, "Elect a leader, so that only one replica reconciles.")
	flag.DurationVar(&f.leaseDuration, "leader-election-lease-duration", 15*time.Second, "How long a standby waits before taking a Lease its leader stopped renewing.")
	flag.DurationVar(&f.renewDeadline, "leader-election-renew-deadline", 10*time.Second, "How long the leader keeps trying to renew before it steps down.")
	flag.DurationVar(&f.retryPeriod, "leader-election-retry-period", time.Second, "How often leader and standby look at the Lease; a released Lease is taken within about this long.")
	flag.StringVar(&f.leaderNamespace, "leader-election-namespace", os.Getenv("POD_NAMESPACE"), "Namespace of the leader election Lease; default: $POD_NAMESPACE, else in a cluster the manager's own.")
	flag.StringVar(&f.leaseName, "leader-election-id", defaultLeaseName, "Name of the leader election Lease: give each release in a namespace its own.")
	flag.StringVar(&f.leaderIdentity, "leader-election-identity", "", "Holder identity written into the Lease while this replica leads (e.g. the Pod name); empty: the hostname and a random suffix.")
	flag.BoolVar(&f.showVersion, "version", false, "Print the version and exit.")
	flag.BoolVar(&f.selfTest, "self-test", false, "Check an installed release and exit (helm test runs it): the PersonaBinding API is served and a replica leads, per the --leader-election-* flags.")
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	return f, opts
}

func main() {
	f, zapOpts := parseFlags()
	if f.showVersion {
		fmt.Println(buildInfo())
		return
	}
	// Most of the heap is the informer cache, which lives as long as the
	// process: a lower GC target than Go's 100% keeps the resident size near
	// it, for little CPU. GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	if f.selfTest {
		ns := f.leaderNamespace
		seen, err := selfTest(context.Background(), ctrl.GetConfigOrDie(), ns, f.leaseName, f.leaderElect, f.leaseDuration, time.Now())
		if err != nil {
			fmt.Fprintln(os.Stderr, "self-test failed:", err)
			os.Exit(1)
		}
		fmt.Println("self-test passed:", seen)
		return
	}
	log := ctrl.Log.WithName("setup")
	log.Info("Starting bland-operator", "version", buildInfo())
	if limit, err := applySoftMemoryLimit(os.Getenv); err != nil {
		log.Error(err, "Go's soft memory limit left unset")
	} else if limit > 0 {
		log.Info("Go's soft memory limit follows the container's", "bytes", limit)
	}
	for _, w := range startupWarnings(f) {
		log.Info("WARNING: " + w)
	}
	if err := run(f); err != nil {
		log.Error(err, "Manager stopped")
		os.Exit(1)
	}
}

func run(f flags) error {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}

	blandClient, err := bland.New(bland.Options{
		BaseURL: f.blandURL, AllowInsecure: f.allowInsecure, QPS: f.qps, Burst: f.burst, Timeout: f.apiTimeout,
		Observe: metrics.ObserveBlandCall, ObserveAccount: metrics.ObserveAccountCall,
		ObserveWait: metrics.ObserveAccountWait,
	})
	if err != nil {
		return err
	}

	metricsOpts, certWatcher, err := metricsOptions(f)
	if err != nil {
		return err
	}

	cfg := ctrl.GetConfigOrDie()
	var lock resourcelock.Interface
	if f.leaderElect && f.leaderIdentity != "" {
		if lock, err = leaderLock(cfg, f.leaderNamespace, f.leaseName, f.leaderIdentity, f.renewDeadline); err != nil {
			return err
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                              scheme,
		Metrics:                             metricsOpts,
		HealthProbeBindAddress:              f.probeAddr,
		PprofBindAddress:                    f.pprofAddr,
		LeaderElection:                      f.leaderElect,
		LeaderElectionID:                    f.leaseName,
		LeaderElectionResourceLockInterface: lock,
		LeaderElectionNamespace:             f.leaderNamespace,
		LeaderElectionReleaseOnCancel:       true,
		// On shutdown a call in flight runs to its answer (at most the API
		// timeout) and is recorded before the Lease is released.
		GracefulShutdownTimeout: ptr.To(f.apiTimeout + 10*time.Second),
		LeaseDuration:           &f.leaseDuration,
		RenewDeadline:           &f.renewDeadline,
		RetryPeriod:             &f.retryPeriod,
		Cache:                   cacheOptions(f.watchNamespaces),
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}

	r := &controller.PersonaReconciler{
		Client:              mgr.GetClient(),
		APIReader:           mgr.GetAPIReader(),
		Bland:               blandClient,
		Recorder:            mgr.GetEventRecorder("bland-operator"),
		AttachBatchSize:     f.batchSize,
		DefaultDetachLimit:  int32(f.detachLimit),
		NameOtherNamespaces: f.nameOtherNamespaces,
		// A call Bland never answered may land until the client gives up on
		// it; a read before then does not settle its numbers.
		CallGrace: f.apiTimeout,
	}
	opts := controller.Options{MaxConcurrentReconciles: f.workers, SkipAccounts: !f.manageAccounts}
	if f.watchNamespaces != "" {
		// An account is cluster-wide: a binding in a namespace this
		// manager does not watch still uses it.
		opts.AccountUsersFrom = mgr.GetAPIReader()
	}
	if err := r.SetupWithManager(mgr, opts); err != nil {
		return fmt.Errorf("setting up controller: %w", err)
	}
	if certWatcher != nil {
		if err := mgr.Add(certWatcher); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("caches", cachesSynced(mgr)); err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()
	go exitIfStuck(ctx, f.apiTimeout+stopMargin)
	return mgr.Start(ctx)
}

// stopMargin is how long past the drain of calls to Bland a stop may take.
const stopMargin = 15 * time.Second

// exitIfStuck ends the process when a stop does not finish in time. A
// manager stopped before its caches synced (a missing CRD, missing RBAC)
// never returns from Start and spins a CPU (controller-runtime v0.25's
// runnable group loops on its cancelled context). Calls in flight are
// bounded by the API timeout, so past it and the margin nothing is left
// to wait for.
func exitIfStuck(ctx context.Context, after time.Duration) {
	<-ctx.Done()
	time.Sleep(after)
	ctrl.Log.WithName("setup").Info("the manager did not stop in time; exiting", "waited", after.String())
	os.Exit(1)
}

// cacheOptions limits the cache to the watched namespaces and drops
// managedFields from cached objects, which the operator never reads.
func cacheOptions(namespaces string) cache.Options {
	opts := cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
	if namespaces == "" {
		return opts
	}
	opts.DefaultNamespaces = map[string]cache.Config{}
	for _, ns := range strings.Split(namespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

func buildInfo() string {
	info := "bland-operator " + version
	if bi, ok := debug.ReadBuildInfo(); ok {
		info += " (" + bi.GoVersion + ")"
	}
	return info
}

// cachesSynced is ready once the manager's caches have synced: a replica
// that cannot list what it watches (a missing CRD, missing RBAC) is not
// Ready, though it is alive.
func cachesSynced(mgr ctrl.Manager) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), 100*time.Millisecond)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("the caches have not synced yet")
		}
		return nil
	}
}
