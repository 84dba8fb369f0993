package acmestore

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"github.com/mholt/acmez/v3/acme"
)

// ErrNotFound: the store has no certificate (or no pending challenge) for
// the name. It wraps fs.ErrNotExist too.
var ErrNotFound = fmt.Errorf("acmestore: not in the store: %w", fs.ErrNotExist)

// ErrExpired: the store's certificate for the name has expired.
var ErrExpired = errors.New("acmestore: certificate expired")

// Store is the store of one CA in one directory.
type Store struct {
	// Dir is the directory.
	Dir string
	// Storage is certmagic's view of Dir.
	Storage *certmagic.FileStorage
	// issuerKeys name the CA in the store's keys: the CA's own, and for
	// Let's Encrypt's production CA its staging one, which certmagic
	// tries after failures.
	issuerKeys []string
}

// Open returns the store of the CA whose directory URL is ca in dir. It
// touches nothing on disk.
func Open(dir, ca string) *Store {
	s := &Store{Dir: dir, Storage: &certmagic.FileStorage{Path: dir}}
	s.issuerKeys = []string{IssuerKey(ca)}
	if ca == certmagic.LetsEncryptProductionCA {
		s.issuerKeys = append(s.issuerKeys, IssuerKey(certmagic.LetsEncryptStagingCA))
	}
	return s
}

// IssuerKey is how certmagic names the CA at URL ca in its keys.
func IssuerKey(ca string) string { return (&certmagic.ACMEIssuer{CA: ca}).IssuerKey() }

// Prepare creates the directory, if missing, and makes it mode 0700.
func (s *Store) Prepare() error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("acmestore: %w", err)
	}
	if err := os.Chmod(s.Dir, 0o700); err != nil {
		return fmt.Errorf("acmestore: %w", err)
	}
	return nil
}

// Certificate loads the certificate and key of name (a canonical host
// name) from the store, with its Leaf set. It fails with ErrNotFound
// when the store has none, or ErrExpired.
func (s *Store) Certificate(ctx context.Context, name string) (*tls.Certificate, error) {
	var firstErr error
	for _, ik := range s.issuerKeys {
		c, err := s.load(ctx, ik, name)
		if err == nil {
			return c, nil
		}
		if firstErr == nil || errors.Is(firstErr, fs.ErrNotExist) {
			firstErr = err
		}
	}
	return nil, firstErr
}

func (s *Store) load(ctx context.Context, issuerKey, name string) (*tls.Certificate, error) {
	certPEM, err := s.Storage.Load(ctx, certmagic.StorageKeys.SiteCert(issuerKey, name))
	if err != nil {
		return nil, notFound(name, err)
	}
	keyPEM, err := s.Storage.Load(ctx, certmagic.StorageKeys.SitePrivateKey(issuerKey, name))
	if err != nil {
		return nil, notFound(name, err)
	}
	return ParsePair(name, certPEM, keyPEM)
}

// ParsePair parses a PEM certificate chain and key of name, as the store
// keeps them, and checks that the certificate has not expired.
func ParsePair(name string, certPEM, keyPEM []byte) (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("acmestore: %s: %w", name, err)
	}
	if time.Now().After(c.Leaf.NotAfter) {
		return nil, fmt.Errorf("acmestore: %s: %w on %s", name, ErrExpired, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &c, nil
}

// PEM returns the PEM certificate chain and key of name as the store has
// them, for a worker that cannot read the store.
func (s *Store) PEM(ctx context.Context, name string) (certPEM, keyPEM []byte, err error) {
	for _, ik := range s.issuerKeys {
		if certPEM, err = s.Storage.Load(ctx, certmagic.StorageKeys.SiteCert(ik, name)); err != nil {
			continue
		}
		if keyPEM, err = s.Storage.Load(ctx, certmagic.StorageKeys.SitePrivateKey(ik, name)); err == nil {
			return certPEM, keyPEM, nil
		}
	}
	return nil, nil, notFound(name, err)
}

// Challenge returns the CA's pending challenge for name, as the master
// wrote it: its KeyAuthorization answers HTTP-01, TLSALPNCertificate
// TLS-ALPN-01. ErrNotFound when none is pending.
func (s *Store) Challenge(ctx context.Context, name string) (acme.Challenge, error) {
	var err error
	for _, ik := range s.issuerKeys {
		key := path.Join("acme", certmagic.StorageKeys.Safe(ik), "challenge_tokens", certmagic.StorageKeys.Safe(name)+".json")
		var b []byte
		if b, err = s.Storage.Load(ctx, key); err != nil {
			continue
		}
		var ch acme.Challenge
		if err = json.Unmarshal(b, &ch); err != nil {
			return acme.Challenge{}, fmt.Errorf("acmestore: challenge of %s: %w", name, err)
		}
		return ch, nil
	}
	return acme.Challenge{}, notFound(name, err)
}

// TLSALPNCertificate is the certificate that answers ch, a TLS-ALPN-01
// challenge, on a handshake that offers ALPN "acme-tls/1".
func TLSALPNCertificate(ch acme.Challenge) (*tls.Certificate, error) {
	return acmez.TLSALPN01ChallengeCert(ch)
}

func notFound(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return fmt.Errorf("acmestore: %s: %w", name, err)
}

// Names lists the names the store has certificates of (from this CA).
func (s *Store) Names(ctx context.Context) ([]string, error) {
	var out []string
	for _, ik := range s.issuerKeys {
		keys, err := s.Storage.List(ctx, certmagic.StorageKeys.CertsPrefix(ik), false)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("acmestore: %w", err)
		}
		for _, k := range keys {
			out = append(out, path.Base(k))
		}
	}
	return out, nil
}
