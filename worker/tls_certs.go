package worker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// Certificates per host.
//
// A host's own certificate comes from its HostConfig.SecurityConfig
// (Certificate, or CertFile and KeyFile). On a TLS listener, the client's
// SNI picks it; a name without its own certificate gets the listener's
// (ListenTLS's pair, or ServerConfig.TLSConfig's Certificates and
// GetCertificate).
//
// A request whose Host header resolves to another certificate than its
// SNI does, on any protocol, is answered 421 Misdirected Request: a
// connection authenticated for one tenant cannot be used to reach
// another's host (domain fronting). Hosts that share one certificate (the
// same files, or one wildcard entry) may share connections, as HTTP/2
// clients do when a certificate covers several names.

// certTable maps host names to their own certificates. It is immutable;
// a TLS listener publishes a new one whenever its hosts change.
type certTable struct {
	hosts hostMap[*tls.Certificate]
}

// forName returns the certificate of the host name (a Host header or an
// SNI; any case, maybe with a port), or nil for the listener's default.
func (t *certTable) forName(name []byte) *tls.Certificate {
	if t == nil || t.hosts.len() == 0 {
		return nil
	}
	c, _ := t.hosts.lookup(name)
	return c
}

// misdirected reports whether a request for host must not be served on a
// connection whose SNI was sni.
func (t *certTable) misdirected(sni string, host []byte) bool {
	if t == nil || t.hosts.len() == 0 || sni == "" {
		return false
	}
	return t.forName(host) != t.forName(strBytes(sni))
}

// strBytes views s as bytes, for lookups that do not keep them.
func strBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// certTableLocked collects the certificates of every host binding b
// serves: its members' HostConfigs first, then the registry. m.mu is held.
func (m *serverManager) certTableLocked(b *binding) *certTable {
	t := &certTable{hosts: newHostMap[*tls.Certificate]()}
	add := func(name string, hc *HostConfig) {
		if _, taken := t.hosts.get(name); taken || m.reg.withdrawn[name] {
			return
		}
		c, err := hostCertificate(hc)
		if err != nil {
			m.log.Error().Err(err).Str("host", name).Msg("host certificate; serving the listener's")
			return
		}
		if c != nil {
			t.hosts.set(name, c)
		}
	}
	for _, s := range b.members {
		for name, hc := range s.cfg.HostConfigs {
			add(name, hc)
		}
	}
	for name, hc := range m.reg.hosts {
		add(name, hc)
	}
	return t
}

// hasHostCertsLocked reports whether any host that s could serve has a
// certificate of its own.
func (m *serverManager) hasHostCerts(s *server) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, hc := range s.cfg.HostConfigs {
		if hostHasCert(hc) {
			return true
		}
	}
	for _, hc := range m.reg.hosts {
		if hostHasCert(hc) {
			return true
		}
	}
	return false
}

func hostHasCert(hc *HostConfig) bool {
	return hc != nil && hc.SecurityConfig != nil &&
		(hc.SecurityConfig.Certificate != nil || hc.SecurityConfig.CertFile != "")
}

// hostCertificate returns the host's own certificate, or nil.
func hostCertificate(hc *HostConfig) (*tls.Certificate, error) {
	if !hostHasCert(hc) {
		return nil, nil
	}
	sec := hc.SecurityConfig
	if sec.Certificate != nil {
		return sec.Certificate, nil
	}
	return loadCertCached(sec.CertFile, sec.KeyFile)
}

// certCache keeps loaded pairs by path, so that a configuration change
// does not re-parse every file, and the same files give the same
// *tls.Certificate (which is how misdirected compares hosts). A pair whose
// files changed (size or modification time) is loaded again.
var certCache struct {
	sync.Mutex
	m map[[2]string]cachedCert
}

type cachedCert struct {
	stamp [2]fileStamp
	cert  *tls.Certificate
}

type fileStamp struct {
	size int64
	mod  time.Time
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.Size(), fi.ModTime()}, nil
}

func loadCertCached(certFile, keyFile string) (*tls.Certificate, error) {
	if keyFile == "" {
		keyFile = certFile // a PEM file with both
	}
	key := [2]string{certFile, keyFile}
	cs, err := stampOf(certFile)
	if err != nil {
		return nil, fmt.Errorf("worker: host certificate: %w", err)
	}
	ks, err := stampOf(keyFile)
	if err != nil {
		return nil, fmt.Errorf("worker: host certificate key: %w", err)
	}
	stamp := [2]fileStamp{cs, ks}
	certCache.Lock()
	defer certCache.Unlock()
	if c, ok := certCache.m[key]; ok && c.stamp == stamp {
		return c.cert, nil
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("worker: load certificate %s: %w", certFile, err)
	}
	if certCache.m == nil {
		certCache.m = make(map[[2]string]cachedCert)
	}
	certCache.m[key] = cachedCert{stamp: stamp, cert: &pair}
	return &pair, nil
}

// misdirected answers 421 Misdirected Request.
func misdirected(ctx *fasthttp.RequestCtx) {
	ctx.Error("Misdirected Request", fasthttp.StatusMisdirectedRequest)
}

// SelfSignedCert returns a self-signed certificate and its key, PEM
// encoded, for development: ECDSA P-256, valid for a year, with a SAN for
// each of hosts and for localhost, 127.0.0.1 and ::1. `rockstar cert`
// writes one; tests use it too. Browsers and clients will not trust it
// unless told to.
func SelfSignedCert(hosts ...string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Rockstar development"}, CommonName: "rockstar dev"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so that it can be trusted as its own root
	}
	seen := make(map[string]bool)
	for _, h := range append(append([]string(nil), hosts...), "localhost", "127.0.0.1", "::1") {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if len(hosts) > 0 && hosts[0] != "" {
		tmpl.Subject.CommonName = hosts[0]
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}
