package child

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/netutil"
	"github.com/rockstar-dev/rockstar/supervisor/acmestore"
	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/supervisor/wire"
	"github.com/rockstar-dev/rockstar/worker"
)

// A worker's part of automatic HTTPS: it serves the certificates the
// master keeps in the ACME store and answers the CA's challenges from
// there, and never talks to the CA. A handshake for a name whose
// certificate the store lacks asks the master (wire.MsgACMEObtain), which
// decides and obtains it; names that no host of the worker's config
// could have are refused here, without asking.

// errNoACMECertificate: the master refused, or could not obtain, the
// certificate a handshake asked for.
var errNoACMECertificate = errors.New("child: no ACME certificate")

// alpnACME is the ALPN protocol of TLS-ALPN-01 (RFC 8737).
const alpnACME = "acme-tls/1"

// acmeChallengePath is where HTTP-01 asks for its key authorization.
const acmeChallengePath = "/.well-known/acme-challenge/"

// acmeCerts is a worker's certificates from the ACME store.
type acmeCerts struct {
	store *acmestore.Store
	log   zerolog.Logger
	// ask asks the master to obtain name's certificate.
	ask   func(ctx context.Context, name string) (*wire.ACMECertificate, error)
	names atomic.Pointer[acmeNames]

	mu    sync.Mutex
	certs map[string]*tls.Certificate
	calls map[string]*acmeCall // loads and asks under way, one per name
}

// acmeNames are the names the worker's config lets have certificates.
type acmeNames struct {
	managed  map[string]bool // tls = "auto" hosts
	onDemand bool
	hosts    map[string]bool // every host name, wildcards as "*.x"
}

type acmeCall struct {
	done chan struct{}
	cert *tls.Certificate
	err  error
}

func newACMECerts(cfg *config.Config, log zerolog.Logger, ask func(context.Context, string) (*wire.ACMECertificate, error)) *acmeCerts {
	a := &acmeCerts{
		store: acmestore.Open(cfg.ACME.Storage, cfg.ACME.CA),
		log:   log,
		ask:   ask,
		certs: make(map[string]*tls.Certificate),
		calls: make(map[string]*acmeCall),
	}
	a.setConfig(cfg)
	return a
}

// setConfig takes the names of a (new) config.
func (a *acmeCerts) setConfig(cfg *config.Config) {
	n := &acmeNames{managed: make(map[string]bool), onDemand: cfg.ACME.OnDemand, hosts: make(map[string]bool)}
	for _, name := range cfg.ACMEHosts() {
		n.managed[name] = true
	}
	for _, h := range cfg.Hosts {
		if h.TLSCert == "" {
			n.hosts[h.Hostname] = true
		}
	}
	a.names.Store(n)
}

// allowed reports whether name may have a certificate from the store.
func (n *acmeNames) allowed(name string) bool {
	if n.managed[name] {
		return true
	}
	if !n.onDemand {
		return false
	}
	if n.hosts[name] {
		return true
	}
	if _, rest, ok := strings.Cut(name, "."); ok && rest != "" {
		return n.hosts["*."+rest]
	}
	return false
}

// tlsConfig is a TLS listener's config: certificates from the store by
// SNI, and TLS-ALPN-01 answers.
func (a *acmeCerts) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetCertificate:     a.getCertificate,
		GetConfigForClient: a.getConfigForClient,
	}
}

// getConfigForClient answers a TLS-ALPN-01 check (a hello that offers
// acme-tls/1 alone) with the challenge's certificate; other handshakes
// go on with the listener's config.
func (a *acmeCerts) getConfigForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	if !slices.Contains(hello.SupportedProtos, alpnACME) {
		return nil, nil
	}
	name := worker.CanonicalHostname(hello.ServerName)
	ch, err := a.store.Challenge(hello.Context(), name)
	if err != nil {
		a.log.Debug().Err(err).Str("host", name).Msg("acme: tls-alpn-01 without a pending challenge")
		return nil, err
	}
	cert, err := acmestore.TLSALPNCertificate(ch)
	if err != nil {
		return nil, err
	}
	a.log.Info().Str("host", name).Msg("acme: answered tls-alpn-01")
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}, NextProtos: []string{alpnACME}}, nil
}

// getCertificate returns name's certificate from the store, asking the
// master for it when the store has none; nil for a name no host may
// have, which gets the listener's own certificate if it has one.
func (a *acmeCerts) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := worker.CanonicalHostname(hello.ServerName)
	if name == "" || !a.names.Load().allowed(name) {
		return nil, nil
	}
	a.mu.Lock()
	if c := a.certs[name]; c != nil && time.Now().Before(c.Leaf.NotAfter) {
		a.mu.Unlock()
		return c, nil
	}
	call := a.calls[name]
	if call == nil {
		call = &acmeCall{done: make(chan struct{})}
		a.calls[name] = call
		a.mu.Unlock()
		// The first handshake's context bounds the call: a later one
		// that waits for it and finds it failed asks anew next time.
		call.cert, call.err = a.load(hello.Context(), name)
		a.mu.Lock()
		delete(a.calls, name)
		if call.err == nil {
			a.certs[name] = call.cert
		}
		close(call.done)
	}
	a.mu.Unlock()
	select {
	case <-call.done:
	case <-hello.Context().Done():
		return nil, context.Cause(hello.Context())
	}
	return call.cert, call.err
}

// load reads name's certificate from the store, or has the master obtain
// it.
func (a *acmeCerts) load(ctx context.Context, name string) (*tls.Certificate, error) {
	c, err := a.store.Certificate(ctx, name)
	if err == nil {
		return c, nil
	}
	a.log.Debug().Err(err).Str("host", name).Msg("acme: not in the store; asking the master")
	pair, err := a.ask(ctx, name)
	if err != nil {
		a.log.Info().Err(err).Str("host", name).Msg("acme: no certificate")
		return nil, err
	}
	return acmestore.ParsePair(name, pair.Cert, pair.Key)
}

// forget drops the cached certificates of names, which the master
// renewed.
func (a *acmeCerts) forget(names []string) {
	a.mu.Lock()
	for _, n := range names {
		delete(a.certs, n)
	}
	a.mu.Unlock()
}

// httpChallenge is a host's middleware that answers HTTP-01 from the
// store; anything else goes on to the host.
func (a *acmeCerts) httpChallenge(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		path := ctx.Path()
		if !bytes.HasPrefix(path, []byte(acmeChallengePath)) || !ctx.IsGet() {
			next(ctx)
			return
		}
		host := string(ctx.Host())
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = worker.CanonicalHostname(host)
		ch, err := a.store.Challenge(ctx, host)
		if err != nil || string(path) != ch.HTTP01ResourcePath() {
			next(ctx)
			return
		}
		ctx.SetStatusCode(fasthttp.StatusOK)
		ctx.SetContentType("text/plain")
		ctx.SetBodyString(ch.KeyAuthorization)
		a.log.Info().Str("host", host).Msg("acme: answered http-01")
	}
}

// acmeRequests are a worker's requests to its master (the only ones it
// makes), by ID.
type acmeRequests struct {
	mu      sync.Mutex
	nextID  uint64
	waiting map[uint64]chan *netutil.Message
}

// askMaster sends MsgACMEObtain and waits for the answer until ctx ends.
func (w *childWorker) askMaster(ctx context.Context, name string) (*wire.ACMECertificate, error) {
	body, _ := json.Marshal(wire.ACMEObtain{Name: name})
	ch := make(chan *netutil.Message, 1)
	r := &w.acmeReqs
	r.mu.Lock()
	r.nextID++
	id := r.nextID
	if r.waiting == nil {
		r.waiting = make(map[uint64]chan *netutil.Message)
	}
	r.waiting[id] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiting, id)
		r.mu.Unlock()
	}()
	if err := w.send(&netutil.Message{ID: id, Type: wire.MsgACMEObtain, Body: body}); err != nil {
		return nil, fmt.Errorf("child: ask the master for %s: %w", name, err)
	}
	select {
	case m := <-ch:
		if m.Err != "" {
			return nil, fmt.Errorf("child: %s: %s: %w", name, m.Err, errNoACMECertificate)
		}
		var c wire.ACMECertificate
		if err := json.Unmarshal(m.Body, &c); err != nil {
			return nil, fmt.Errorf("child: %s: %w", name, err)
		}
		return &c, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("child: %s: %w", name, context.Cause(ctx))
	}
}

// acmeAnswer hands the master's answer to the askMaster that waits for
// it; it reports whether m was one.
func (w *childWorker) acmeAnswer(m *netutil.Message) bool {
	if m.Type != wire.MsgACMEObtain {
		return false
	}
	r := &w.acmeReqs
	r.mu.Lock()
	ch := r.waiting[m.ID]
	delete(r.waiting, m.ID)
	r.mu.Unlock()
	if ch != nil {
		ch <- m
	}
	return true
}
