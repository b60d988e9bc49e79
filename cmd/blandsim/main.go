// Command blandsim serves the in-memory Bland persona API for the demo and
// end-to-end tests. It logs every call (never the key) and serves the call history at
// /_sim/history.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/bland-operator/bland-operator/internal/blandsim"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	listen := flag.String("listen", "127.0.0.1:8088", "Address to serve on.")
	key := flag.String("api-key", "demo-key", "The API key of the simulated account.")
	personas := flag.String("personas", "12345678-1234-1234-1234-123456789012=Support Agent", "Comma-separated id=name personas of the account.")
	numbers := flag.String("numbers", "+14155550101,+14155550102,+14155550103,+14155550104", "Comma-separated numbers the account owns.")
	latency := flag.Duration("latency", 0, "Latency added to every call.")
	showVersion := flag.Bool("version", false, "Print the version and exit.")
	flag.Parse()
	if *showVersion {
		fmt.Println("blandsim " + version)
		return
	}

	sim := blandsim.New()
	sim.Latency = *latency
	sim.OnCall = func(c blandsim.Call) {
		log.Printf("call %s persona=%s numbers=%s status=%d", c.Endpoint, c.PersonaID, strings.Join(c.Numbers, ","), c.Status)
	}
	sim.AddAccount("demo", *key, split(*numbers)...)
	for _, p := range split(*personas) {
		id, name, _ := strings.Cut(p, "=")
		sim.AddPersona(*key, id, name)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "blandsim: cannot listen on %s: %v (is another simulator running? pick another address with --listen)\n", *listen, err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("Bland simulator listening on http://%s", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Print(err)
		stop()
		os.Exit(1) //nolint:gocritic // stop() ran just above
	}
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
