package reliability

import (
	"io"
	"net"
	"sync"
	"time"
)

// apiProxy is a TCP proxy between the managers and the API server. It passes
// bytes through untouched (TLS included), so a manager sees exactly what a
// network partition looks like when Cut is called: every open connection
// drops at once and new ones are closed as soon as they are accepted, until
// the cut ends. Tests that only need a working API server never notice it.
type apiProxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	conns    map[net.Conn]bool
	cutUntil time.Time
}

// newAPIProxy listens on a free local port and forwards to target (host:port).
func newAPIProxy(target string) (*apiProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &apiProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *apiProxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting and drops every connection.
func (p *apiProxy) Close() {
	_ = p.ln.Close()
	p.dropAll()
}

// Cut drops every connection now and refuses new ones for d.
func (p *apiProxy) Cut(d time.Duration) {
	p.mu.Lock()
	p.cutUntil = time.Now().Add(d)
	p.mu.Unlock()
	p.dropAll()
}

func (p *apiProxy) cut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Now().Before(p.cutUntil)
}

func (p *apiProxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *apiProxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *apiProxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.cut() {
			_ = in.Close()
			continue
		}
		go p.pipe(in)
	}
}

// pipe copies both ways until either side closes or a cut drops both.
func (p *apiProxy) pipe(in net.Conn) {
	out, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		_ = in.Close()
		return
	}
	p.track(in, true)
	p.track(out, true)
	if p.cut() { // a cut began while this one was dialling
		_ = in.Close()
	}
	defer func() {
		_ = in.Close()
		_ = out.Close()
		p.track(in, false)
		p.track(out, false)
	}()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
	go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
	<-done
}
