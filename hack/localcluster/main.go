// Command localcluster runs a local control plane (etcd and kube-apiserver on
// loopback, from KUBEBUILDER_ASSETS) for `make demo` and the end-to-end tests,
// writes an admin kubeconfig, and stops it all on SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

func main() {
	kubeconfig := flag.String("write-kubeconfig", "", "Where to write the admin kubeconfig.")
	flag.Parse()
	if *kubeconfig == "" || os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "usage: KUBEBUILDER_ASSETS=... localcluster --write-kubeconfig PATH")
		os.Exit(2)
	}
	if err := run(*kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		os.Exit(1)
	}
}

func run(kubeconfig string) error {
	env := &envtest.Environment{}
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	defer func() { _ = env.Stop() }()
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	cfg, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	if err := os.WriteFile(kubeconfig, cfg, 0o600); err != nil {
		return err
	}
	fmt.Printf("control plane ready at %s\n", env.Config.Host)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	return nil
}
