package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/netutil"
	"github.com/rockstar-dev/rockstar/supervisor/acmestore"
	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/supervisor/wire"
	"github.com/rockstar-dev/rockstar/worker"
)

// Automatic HTTPS: the master alone talks to the ACME CA. It obtains and
// renews the certificates of tls = "auto" hosts into the store
// (acmestore), and on demand those a worker's handshake asks for
// (wire.MsgACMEObtain) when the host registry has the name, within
// acme.on_demand_rate. The CA's challenges are answered by whichever
// worker they reach, from the store; the master's certmagic finds the
// challenge ports taken (they are the workers' listeners) and leaves the
// answering to them.

// Errors of an on-demand request, as the worker is answered.
var (
	// errACMENotAllowed: no host of the registry may have a certificate
	// of the name (none has it, or acme.on_demand is off).
	errACMENotAllowed = errors.New("supervisor: acme: no host may have a certificate of that name")
	// errACMERateLimited: acme.on_demand_rate is spent.
	errACMERateLimited = errors.New("supervisor: acme: on-demand issuance rate limit reached")
)

// acmeObtainTimeout bounds one on-demand issuance.
const acmeObtainTimeout = 2 * time.Minute

// acmeManager is the master's ACME client.
type acmeManager struct {
	log     zerolog.Logger
	section config.ACME
	store   *acmestore.Store
	cache   *certmagic.Cache
	magic   *certmagic.Config
	limit   *issueLimiter
	current func() *config.Config // the host registry
	notify  func(names []string)  // tells the workers of renewals

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // on-demand requests

	mu      sync.Mutex
	closed  bool
	managed map[string]bool
	calls   map[string]*acmeCall // on-demand issuances under way
}

type acmeCall struct {
	done chan struct{}
	err  error
}

// newACMEManager starts the ACME client of cfg's [acme] section; nil
// when nothing uses it.
func newACMEManager(cfg *config.Config, log zerolog.Logger, current func() *config.Config, notify func([]string)) (*acmeManager, error) {
	if !cfg.ACMEEnabled() {
		return nil, nil
	}
	log = log.With().Str("component", "acme").Logger()
	a := &acmeManager{
		log:     log,
		section: cfg.ACME,
		store:   acmestore.Open(cfg.ACME.Storage, cfg.ACME.CA),
		limit:   newIssueLimiter(cfg.ACME.OnDemandRate, cfg.ACME.OnDemandInterval),
		current: current,
		notify:  notify,
		managed: make(map[string]bool),
		calls:   make(map[string]*acmeCall),
	}
	if err := a.store.Prepare(); err != nil {
		return nil, err
	}
	tmpl := certmagic.ACMEIssuer{
		CA:     cfg.ACME.CA,
		Email:  cfg.ACME.Email,
		Agreed: true,
		Logger: zapToZerolog(log),
	}
	if cfg.ACME.CARoot != "" {
		pool, err := config.LoadCARoot(cfg.ACME.CARoot)
		if err != nil {
			return nil, fmt.Errorf("supervisor: acme.ca_root: %w", err)
		}
		tmpl.TrustedRoots = pool
	}
	// The challenge ports are the first plain and the first TLS listener:
	// certmagic finds them taken, and the workers answer.
	httpAddr, tlsAddr := "", ""
	for _, s := range cfg.Servers {
		switch {
		case s.TLS() && tlsAddr == "":
			tlsAddr = s.Listen
		case !s.TLS() && httpAddr == "":
			httpAddr = s.Listen
		}
	}
	if host, port, ok := splitPort(tlsAddr); ok && cfg.ACME.Challenge(config.ChallengeTLSALPN01) {
		tmpl.ListenHost, tmpl.AltTLSALPNPort = host, port
	} else {
		tmpl.DisableTLSALPNChallenge, tlsAddr = true, ""
	}
	if host, port, ok := splitPort(httpAddr); ok && cfg.ACME.Challenge(config.ChallengeHTTP01) {
		tmpl.ListenHost, tmpl.AltHTTPPort = host, port
	} else {
		tmpl.DisableHTTPChallenge, httpAddr = true, ""
	}
	zl := zapToZerolog(log)
	a.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return a.magic, nil },
		Logger:           zl,
	})
	a.magic = certmagic.New(a.cache, certmagic.Config{
		Storage: a.store.Storage,
		Logger:  zl,
		OnEvent: a.onEvent,
		// The workers serve the certificates without staples.
		OCSP: certmagic.OCSPConfig{DisableStapling: true},
	})
	a.magic.Issuers = []certmagic.Issuer{certmagic.NewACMEIssuer(a.magic, tmpl)}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	log.Info().Str("ca", cfg.ACME.CA).Str("storage", cfg.ACME.Storage).Bool("on_demand", cfg.ACME.OnDemand).
		Str("http_challenge", httpAddr).Str("tls_alpn_challenge", tlsAddr).Msg("acme: ready")
	return a, nil
}

// splitPort splits a listen address with a port other than 0.
func splitPort(addr string) (string, int, bool) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, false
	}
	port, err := strconv.Atoi(p)
	return host, port, err == nil && port > 0
}

// onEvent tells the workers about every certificate obtained or renewed.
func (a *acmeManager) onEvent(_ context.Context, event string, data map[string]any) error {
	if event != "cert_obtained" {
		return nil
	}
	if name, ok := data["identifier"].(string); ok {
		a.log.Info().Str("host", name).Any("renewal", data["renewal"]).Msg("acme: certificate obtained")
		a.notify([]string{name})
	}
	return nil
}

// update manages the certificates of cfg: the tls = "auto" hosts'
// (obtained in the background, if the store lacks them) and the ones the
// store has for names the registry still has (renewed); the rest are no
// longer renewed. nil-safe.
func (a *acmeManager) update(cfg *config.Config) {
	if a == nil {
		return
	}
	want := make(map[string]bool)
	for _, n := range cfg.ACMEHosts() {
		want[n] = true
	}
	stored, err := a.store.Names(a.ctx)
	if err != nil {
		a.log.Warn().Err(err).Msg("acme: cannot list the store")
	}
	for _, n := range stored {
		if acmeAllowed(cfg, n) {
			want[n] = true
		}
	}
	a.mu.Lock()
	var add []string
	var drop []certmagic.SubjectIssuer
	for n := range want {
		if !a.managed[n] {
			add = append(add, n)
		}
	}
	for n := range a.managed {
		if !want[n] {
			drop = append(drop, certmagic.SubjectIssuer{Subject: n})
		}
	}
	a.managed = want
	a.mu.Unlock()
	if len(drop) > 0 {
		a.cache.RemoveManaged(drop)
	}
	if len(add) > 0 {
		if err := a.magic.ManageAsync(a.ctx, add); err != nil {
			a.log.Error().Err(err).Strs("hosts", add).Msg("acme: manage")
		}
	}
}

// acmeAllowed reports whether the registry cfg lets name have an ACME
// certificate: a tls = "auto" host, or with on_demand any host of that
// name, or a wildcard host over it, without a certificate of its own.
func acmeAllowed(cfg *config.Config, name string) bool {
	for _, n := range cfg.ACMEHosts() {
		if n == name {
			return true
		}
	}
	if !cfg.ACME.OnDemand {
		return false
	}
	wild := ""
	if _, rest, ok := strings.Cut(name, "."); ok && rest != "" {
		wild = "*." + rest
	}
	for _, h := range cfg.Hosts {
		if (h.Hostname == name || h.Hostname == wild) && h.TLSCert == "" {
			return true
		}
	}
	return false
}

// request answers a worker's MsgACMEObtain, in the background.
func (a *acmeManager) request(p *proc, m *netutil.Message) {
	reply := func(body any, err error) {
		r := &netutil.Message{ID: m.ID, Type: m.Type}
		if err != nil {
			r.Err = err.Error()
		} else {
			r.Body, _ = json.Marshal(body)
		}
		if err := p.send(r); err != nil {
			a.log.Debug().Err(err).Int(logWorkerPID, p.pid).Msg("acme: answer a worker")
		}
	}
	var req wire.ACMEObtain
	if a == nil {
		reply(nil, errACMENotAllowed)
		return
	}
	if err := json.Unmarshal(m.Body, &req); err != nil {
		reply(nil, err)
		return
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		reply(nil, ErrStopped)
		return
	}
	a.wg.Go(func() {
		ctx, cancel := context.WithTimeout(a.ctx, acmeObtainTimeout)
		defer cancel()
		c, err := a.obtain(ctx, worker.CanonicalHostname(req.Name))
		reply(c, err)
	})
	a.mu.Unlock()
}

// obtain returns name's certificate from the store, first obtaining it
// if the registry allows and the rate limit lets it.
func (a *acmeManager) obtain(ctx context.Context, name string) (*wire.ACMECertificate, error) {
	if !acmeAllowed(a.current(), name) {
		a.log.Info().Str("host", name).Msg("acme: refused a certificate for a name the registry has not")
		return nil, fmt.Errorf("%s: %w", name, errACMENotAllowed)
	}
	if c, k, err := a.store.PEM(ctx, name); err == nil {
		if _, err := acmestore.ParsePair(name, c, k); err == nil {
			return &wire.ACMECertificate{Cert: c, Key: k}, nil
		}
	}
	a.mu.Lock()
	call := a.calls[name]
	if call == nil {
		call = &acmeCall{done: make(chan struct{})}
		a.calls[name] = call
		a.mu.Unlock()
		call.err = a.issue(ctx, name)
		a.mu.Lock()
		delete(a.calls, name)
		close(call.done)
	}
	a.mu.Unlock()
	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	if call.err != nil {
		return nil, call.err
	}
	c, k, err := a.store.PEM(ctx, name)
	if err != nil {
		return nil, err
	}
	return &wire.ACMECertificate{Cert: c, Key: k}, nil
}

// issue obtains name's certificate into the store, and keeps renewing
// it; names other than tls = "auto" hosts' spend the on-demand limit.
func (a *acmeManager) issue(ctx context.Context, name string) error {
	a.mu.Lock()
	managed := a.managed[name]
	a.mu.Unlock()
	if !managed && !a.limit.allow() {
		a.log.Warn().Str("host", name).Msg("acme: on-demand rate limit reached; no certificate")
		return fmt.Errorf("%s: %w", name, errACMERateLimited)
	}
	a.log.Info().Str("host", name).Bool("on_demand", !managed).Msg("acme: obtaining a certificate")
	if err := a.magic.ManageSync(ctx, []string{name}); err != nil {
		return fmt.Errorf("supervisor: acme: %w", err)
	}
	a.mu.Lock()
	a.managed[name] = true
	a.mu.Unlock()
	return nil
}

// close stops the client: requests under way end, renewals stop.
// nil-safe.
func (a *acmeManager) close() {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
	a.cache.Stop()
}

// acmeNotify tells every worker that the certificates of names changed
// in the store.
func (m *Master) acmeNotify(names []string) {
	body, _ := json.Marshal(wire.ACMERenewed{Names: names})
	m.mu.Lock()
	gens := append([]*generation{m.cur}, m.draining...)
	m.mu.Unlock()
	for _, g := range gens {
		if g == nil {
			continue
		}
		for _, p := range g.procs() {
			_ = p.send(&netutil.Message{Type: wire.MsgACMECertificates, Body: body})
		}
	}
}

// acmeRequest answers a worker's request to the master.
func (m *Master) acmeRequest(p *proc, msg *netutil.Message) {
	m.mu.Lock()
	a := m.acme
	m.mu.Unlock()
	a.request(p, msg)
}

// acmeFor makes the ACME client fit next, a config about to be applied:
// a new one when the [acme] section changed (sectionChanged) or when
// next starts or stops using it; the old one stops. m.opMu is held.
func (m *Master) acmeFor(next *config.Config, sectionChanged bool) error {
	if !sectionChanged && (m.acmeManager() != nil) == next.ACMEEnabled() {
		return nil
	}
	a, err := newACMEManager(next, m.log, m.currentConfig, m.acmeNotify)
	if err != nil {
		return err
	}
	m.mu.Lock()
	old := m.acme
	m.acme = a
	m.mu.Unlock()
	old.close()
	return nil
}
