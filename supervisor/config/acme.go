package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TLSAuto is the value of tls on a [[host]] or a [[server]] whose
// certificates come from the ACME CA of the [acme] section.
const TLSAuto = "auto"

// DefaultACMECA is acme.ca's default: Let's Encrypt's production
// directory.
const DefaultACMECA = "https://acme-v02.api.letsencrypt.org/directory"

// DefaultACMEStorage is acme.storage's default, relative to the config
// file's directory.
const DefaultACMEStorage = "acme"

// DefaultOnDemandRate and DefaultOnDemandInterval are
// acme.on_demand_rate's default, "10/m": at most 10 certificates obtained
// on demand per minute (and 10 at once).
const (
	DefaultOnDemandRate     = 10
	DefaultOnDemandInterval = time.Minute
)

// ACME challenge types, acme.challenges' values.
const (
	ChallengeHTTP01    = "http-01"     // on the first plain [[server]]
	ChallengeTLSALPN01 = "tls-alpn-01" // on the first TLS [[server]]
)

// DefaultACMEChallenges is acme.challenges' default: both.
var DefaultACMEChallenges = []string{ChallengeHTTP01, ChallengeTLSALPN01}

// MaxOnDemandRate bounds the count of acme.on_demand_rate.
const MaxOnDemandRate = 10000

// ACME is the [acme] section: where certificates for hosts with
// tls = "auto" (and, with OnDemand, for every registered host) come from.
// The master alone talks to the CA; the workers read what it obtained
// from Storage and answer the CA's HTTP-01 and TLS-ALPN-01 challenges
// from there, on the configured listeners.
type ACME struct {
	// CA (ca) is the ACME directory URL, https. Default DefaultACMECA.
	CA string
	// Email (email) is the ACME account's contact address. Default "":
	// an account without one.
	Email string
	// Storage (storage) is the absolute path of the directory where
	// accounts, certificates and keys are kept, created mode 0700 (keys
	// 0600), shared by the master and every worker and kept across
	// restarts. Default DefaultACMEStorage beside the config file.
	Storage string
	// CARoot (ca_root) is the absolute path of a PEM file of the root
	// certificates to trust for the CA's own HTTPS (for a private CA or a
	// test one such as Pebble). Default "": the system's roots.
	CARoot string
	// OnDemand (on_demand) obtains a certificate at the first TLS
	// handshake for a name that has none yet, when the host registry
	// (the config, the state file, the runtime API) has a host of that
	// name (or a wildcard host covering it); names it has not are
	// refused without asking the CA. Default false.
	OnDemand bool
	// OnDemandRate and OnDemandInterval (on_demand_rate, "N/s", "N/m" or
	// "N/h", N from 1 to MaxOnDemandRate) bound how many certificates are
	// obtained on demand: N per interval, N at once; a handshake past
	// the limit gets no certificate. Default DefaultOnDemandRate per
	// DefaultOnDemandInterval.
	OnDemandRate     int
	OnDemandInterval time.Duration
	// Challenges (challenges) are the challenge types the CA may check:
	// ChallengeHTTP01 (the CA connects to the first [[server]] without
	// TLS, which must be port 80 to the world) and ChallengeTLSALPN01
	// (to the first TLS one, port 443 to the world). Default
	// DefaultACMEChallenges, less http-01 when no [[server]] is plain.
	Challenges []string
}

// Challenge reports whether the CA may check challenge type c.
func (a ACME) Challenge(c string) bool { return slices.Contains(a.Challenges, c) }

// ACMEHosts returns the names whose certificates the master obtains and
// renews at once: the hosts with tls = "auto" and, when a [[server]] has
// tls = "auto" and acme.on_demand is off, every host without a
// certificate of its own (with on_demand, they get theirs at their first
// handshake). Wildcard hosts are left out (they are served on demand).
func (c *Config) ACMEHosts() []string {
	all := false
	for _, s := range c.Servers {
		all = all || (s.TLSAuto && !c.ACME.OnDemand)
	}
	var out []string
	for _, h := range c.Hosts {
		if strings.HasPrefix(h.Hostname, "*.") {
			continue
		}
		if h.TLSAuto || (all && h.TLSCert == "") {
			out = append(out, h.Hostname)
		}
	}
	return out
}

// ACMEEnabled reports whether anything uses the [acme] section: a host or
// server with tls = "auto", or on_demand.
func (c *Config) ACMEEnabled() bool {
	if c.ACME.OnDemand {
		return true
	}
	for _, s := range c.Servers {
		if s.TLSAuto {
			return true
		}
	}
	for _, h := range c.Hosts {
		if h.TLSAuto {
			return true
		}
	}
	return false
}

func (d *decoder) acme(root *table) ACME {
	a := ACME{
		CA:               DefaultACMECA,
		Storage:          d.resolve(DefaultACMEStorage),
		OnDemandRate:     DefaultOnDemandRate,
		OnDemandInterval: DefaultOnDemandInterval,
		Challenges:       DefaultACMEChallenges,
	}
	t, ok := root.sub("acme")
	if !ok {
		return a
	}
	if v, ok := t.str("ca", false); ok {
		if p := caURLProblem(v); p != "" {
			t.errorf("ca", ErrInvalid, "%s", p)
		} else {
			a.CA = v
		}
	}
	if v, ok := t.str("email", false); ok {
		if v != "" && (!strings.Contains(v, "@") || strings.ContainsAny(v, " \t\r\n<>")) {
			t.errorf("email", ErrInvalid, "%q is not an email address", v)
		} else {
			a.Email = v
		}
	}
	if v, ok := t.str("storage", false); ok {
		if v == "" {
			t.errorf("storage", ErrInvalid, "must name a directory")
		} else {
			a.Storage = d.resolve(v)
		}
	}
	if v, ok := t.str("ca_root", false); ok {
		a.CARoot = d.resolve(v)
	}
	if v, ok := t.boolean("on_demand"); ok {
		a.OnDemand = v
	}
	if v, ok := t.str("on_demand_rate", false); ok {
		n, per, p := parseRate(v)
		if p != "" {
			t.errorf("on_demand_rate", ErrInvalid, "%q %s", v, p)
		} else {
			a.OnDemandRate, a.OnDemandInterval = n, per
		}
	}
	if v, ok := t.strings("challenges"); ok {
		a.Challenges = d.challenges(t.field("challenges"), v)
	}
	d.acmeChallengesSet = t.has("challenges")
	t.finish()
	return a
}

// challenges checks an acme.challenges list; field is its path.
func (d *decoder) challenges(field string, v []string) []string {
	if len(v) == 0 {
		d.errorf(field, ErrInvalid, "must name at least one of %s", strings.Join(DefaultACMEChallenges, ", "))
		return nil
	}
	seen := map[string]bool{}
	for i, c := range v {
		switch {
		case !slices.Contains(DefaultACMEChallenges, c):
			d.errorf(indexPath(field, i), ErrInvalid, "%q is not one of %s", c, strings.Join(DefaultACMEChallenges, ", "))
		case seen[c]:
			d.errorf(indexPath(field, i), ErrDuplicate, "%q is listed twice", c)
		}
		seen[c] = true
	}
	return slices.Compact(slices.Clone(v))
}

// parseRate reads "N/s", "N/m" or "N/h"; problem is "" when it is one.
func parseRate(v string) (n int, per time.Duration, problem string) {
	count, unit, ok := strings.Cut(v, "/")
	if !ok {
		return 0, 0, `is not a rate like "10/m"`
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 || n > MaxOnDemandRate {
		return 0, 0, "must count 1 to " + strconv.Itoa(MaxOnDemandRate) + " certificates"
	}
	switch unit {
	case "s":
		per = time.Second
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	default:
		return 0, 0, `must be per "s", "m" or "h"`
	}
	return n, per, ""
}

// caURLProblem says what is wrong with an ACME directory URL, or "".
func caURLProblem(v string) string {
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return "not a URL: " + err.Error()
	case u.Scheme != "https":
		return "must be an https:// URL"
	case u.Host == "":
		return "names no host"
	}
	return ""
}

// tlsMode reads tls, whose only value is TLSAuto; a host's conflicts
// with its tls_cert, a server's tls_cert is its default certificate.
func (d *decoder) tlsMode(t *table, cert string, host bool) bool {
	v, ok := t.str("tls", false)
	if !ok {
		return false
	}
	if v != TLSAuto {
		t.errorf("tls", ErrInvalid, "%q: the only value is %q (or leave it out)", v, TLSAuto)
		return false
	}
	if cert != "" && host {
		t.errorf("tls", ErrConflict, "cannot be used with tls_cert: the host's certificate comes from one or the other")
		return false
	}
	return true
}

// validateACME checks what the [acme] section needs from the others:
// a TLS listener to serve its certificates on, and no wildcard host with
// tls = "auto" (HTTP-01 and TLS-ALPN-01 cannot prove a wildcard).
func (d *decoder) validateACME(c *Config) {
	if !c.ACMEEnabled() {
		return
	}
	tlsServer := false
	for _, s := range c.Servers {
		tlsServer = tlsServer || s.TLS()
	}
	for i, h := range c.Hosts {
		if !h.TLSAuto {
			continue
		}
		switch {
		case strings.HasPrefix(h.Hostname, "*."):
			d.errorf(d.hostPaths[i]+".tls", ErrConflict, "a wildcard host cannot get its certificate by HTTP-01 or TLS-ALPN-01; set acme.on_demand to get one per name")
		case !tlsServer:
			d.errorf(d.hostPaths[i]+".tls", ErrConflict, "no [[server]] has TLS (tls_cert or tls = %q) to serve the certificate on", TLSAuto)
		}
	}
	if c.ACME.OnDemand && !tlsServer {
		d.errorf("acme.on_demand", ErrConflict, "no [[server]] has TLS (tls_cert or tls = %q) to serve certificates on", TLSAuto)
	}
	plain := false
	for _, s := range c.Servers {
		plain = plain || !s.TLS()
	}
	if !plain && c.ACME.Challenge(ChallengeHTTP01) {
		if d.acmeChallengesSet {
			d.errorf("acme.challenges", ErrConflict, "%s needs a [[server]] without TLS (port 80) for the CA to connect to", ChallengeHTTP01)
		}
		c.ACME.Challenges = slices.DeleteFunc(slices.Clone(c.ACME.Challenges), func(s string) bool { return s == ChallengeHTTP01 })
	}
}

// ErrNoCertificates: an acme.ca_root file holds no PEM certificate.
var ErrNoCertificates = errors.New("config: no PEM certificate in the file")

// LoadCARoot reads acme.ca_root's PEM file into a pool.
func LoadCARoot(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: %w", path, ErrNoCertificates)
	}
	return pool, nil
}
