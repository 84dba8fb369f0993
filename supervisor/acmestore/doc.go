// Package acmestore is the certificate store that a Rockstar master and
// its workers share for automatic HTTPS: one directory, written by the
// master's ACME client (github.com/caddyserver/certmagic's FileStorage and
// key layout) and read by every worker, which never talks to the CA
// itself.
//
// The master obtains and renews certificates into the store and writes
// the CA's pending HTTP-01 and TLS-ALPN-01 challenges there (certmagic's
// distributed solving); a worker answers a challenge that reaches it, on
// whichever shared port, from the same files (Challenge), and serves the
// certificates it finds there (Certificate). The directory is kept mode
// 0700 and keys 0600 (Prepare); it survives restarts, so a master that
// starts again serves what it had without asking the CA anew.
package acmestore
