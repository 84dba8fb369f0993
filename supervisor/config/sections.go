package config

import (
	"math"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rockstar-dev/rockstar/worker"
)

// decode fills c from the generic TOML tree, section by section.
func (d *decoder) decode(c *Config, doc map[string]any) {
	root := &table{d: d, m: doc}
	c.Supervisor = d.supervisor(root)
	c.Log = d.log(root)
	c.Admin = d.admin(root)
	c.Cluster = d.cluster(root)
	c.ACME = d.acme(root)
	servers, ok := root.tables("server")
	d.serversBad = !ok
	for _, t := range servers {
		d.serverPaths = append(d.serverPaths, t.path)
		c.Servers = append(c.Servers, d.server(t))
	}
	hosts, _ := root.tables("host")
	for _, t := range hosts {
		d.hostPaths = append(d.hostPaths, t.path)
		c.Hosts = append(c.Hosts, d.host(t))
	}
	tenants, _ := root.tables("tenant")
	for _, t := range tenants {
		d.tenantPaths = append(d.tenantPaths, t.path)
		c.Tenants = append(c.Tenants, d.tenant(t))
	}
	root.finish()
}

func (d *decoder) supervisor(root *table) Supervisor {
	s := Supervisor{
		Workers:         min(CPUs(), MaxWorkers),
		WorkersAuto:     true,
		ControlSocket:   d.resolve(DefaultControlSocket),
		PIDFile:         d.resolve(DefaultPIDFile),
		ShutdownTimeout: DefaultShutdownTimeout,
	}
	t, ok := root.sub("supervisor")
	if !ok {
		t = &table{d: d, path: "supervisor", m: map[string]any{}}
	}
	if v, ok := t.get("workers"); ok {
		switch w := v.(type) {
		case string:
			if w != "auto" {
				t.errorf("workers", ErrInvalid, "must be \"auto\" or a number from 1 to %d", MaxWorkers)
			}
		case int64:
			if checkRange(t, "workers", w, 1, MaxWorkers) {
				s.Workers, s.WorkersAuto = int(w), false
			}
		default:
			t.errorf("workers", ErrType, "must be \"auto\" or an integer, not %s", typeName(v))
		}
	}
	if v, ok := t.str("control_socket", false); ok {
		if v == "" {
			t.errorf("control_socket", ErrInvalid, "must not be empty")
		} else {
			s.ControlSocket = d.resolve(v)
		}
	}
	if len(s.ControlSocket) > MaxUnixSocketPath {
		t.errorf("control_socket", ErrInvalid, "%q is %d bytes long, more than a Unix socket path may be (%d): set a shorter control_socket",
			s.ControlSocket, len(s.ControlSocket), MaxUnixSocketPath)
	}
	if v, ok := t.str("pid_file", false); ok {
		s.PIDFile = d.resolve(v)
	}
	if v, ok := t.duration("shutdown_timeout"); ok {
		s.ShutdownTimeout = v
	}
	if v, ok := t.boolean("stop_signal_graceful"); ok {
		s.StopSignalGraceful, s.StopSignalGracefulSet = v, true
	}
	if v, ok := t.str("user", false); ok {
		s.User = v
	}
	if v, ok := t.str("group", false); ok {
		s.Group = v
	}
	t.finish()
	return s
}

var logLevels = []string{"trace", "debug", "info", "warn", "error"}

func (d *decoder) log(root *table) Log {
	l := Log{Level: DefaultLogLevel, AccessLogFormat: AccessLogJSON}
	t, ok := root.sub("log")
	if !ok {
		return l
	}
	if v, ok := t.str("level", false); ok {
		if slices.Contains(logLevels, v) {
			l.Level = v
		} else {
			t.errorf("level", ErrInvalid, "must be one of %s", strings.Join(logLevels, ", "))
		}
	}
	if v, ok := t.str("format", false); ok {
		switch v {
		case "", LogFormatConsole, LogFormatJSON:
			l.Format = v
		default:
			t.errorf("format", ErrInvalid, "must be %q, %q, or \"\" for console on a terminal and json otherwise", LogFormatConsole, LogFormatJSON)
		}
	}
	if v, ok := t.str("access_log", false); ok {
		switch v {
		case "-", AccessLogStderr:
			l.AccessLog = AccessLogStderr
		default:
			l.AccessLog = d.resolve(v)
		}
	}
	if v, ok := t.str("access_log_format", false); ok {
		switch v {
		case AccessLogJSON, AccessLogCombined:
			l.AccessLogFormat = v
		default:
			t.errorf("access_log_format", ErrInvalid, "must be %q or %q", AccessLogJSON, AccessLogCombined)
		}
	}
	t.finish()
	return l
}

func (d *decoder) admin(root *table) Admin {
	a := Admin{Listen: DefaultAdminListen, IdleTimeout: DefaultAdminIdleTimeout, MaxConnections: DefaultAdminMaxConnections,
		StateFile: DefaultStateFile(filepath.Join(d.dir, filepath.Base(d.file)))}
	t, ok := root.sub("admin")
	if !ok {
		return a
	}
	if v, ok := t.str("listen", false); ok {
		a.Listen = v
		if v != "" {
			if p := listenProblem(v); p != "" {
				t.errorf("listen", ErrInvalid, "%s", p)
			}
		}
	}
	if v, ok := t.duration("idle_timeout"); ok {
		a.IdleTimeout = v
	}
	if v, ok := t.integer("max_connections", 1, MaxAdminConnections); ok {
		a.MaxConnections = int(v)
	}
	if v, ok := t.str("token_file", false); ok {
		a.TokenFile = d.resolve(v)
	}
	if v, ok := t.str("state_file", false); ok {
		a.StateFile = d.resolve(v)
	}
	if v, ok := t.strings("hosts"); ok {
		for i, h := range v {
			switch {
			case strings.HasPrefix(h, "*."):
				d.errorf(indexPath(t.field("hosts"), i), ErrInvalid, "%q: a name, not a wildcard", h)
			case worker.ValidateHostname(h) != nil:
				d.errorf(indexPath(t.field("hosts"), i), ErrInvalid, "%v", worker.ValidateHostname(h))
			default:
				a.Hosts = append(a.Hosts, worker.CanonicalHostname(h))
			}
		}
	}
	t.finish()
	return a
}

func (d *decoder) server(t *table) Server {
	s := Server{
		Protocols:      []string{ProtocolHTTP1},
		ReadTimeout:    worker.DefaultReadTimeout,
		WriteTimeout:   worker.DefaultWriteTimeout,
		IdleTimeout:    worker.DefaultIdleTimeout,
		MaxHeaderBytes: worker.DefaultMaxHeaderBytes,
		MaxConnections: worker.DefaultMaxConnections,
		MaxRequestSize: worker.DefaultMaxRequestSize,
		EventLoop:      true,
		RealIPHeader:   RealIPXForwardedFor,
	}
	if v, ok := t.str("listen", true); ok {
		s.Listen = v
		if p := listenProblem(v); p != "" {
			t.errorf("listen", ErrInvalid, "%s", p)
		}
	}
	if v, ok := t.strings("protocols"); ok {
		s.Protocols = d.protocols(t.field("protocols"), v)
	}
	if v, ok := t.duration("read_timeout"); ok {
		s.ReadTimeout = v
	}
	if v, ok := t.duration("write_timeout"); ok {
		s.WriteTimeout = v
	}
	if v, ok := t.duration("idle_timeout"); ok {
		s.IdleTimeout = v
	}
	if v, ok := t.integer("max_header_bytes", 1, worker.MaxHeaderBufferBytes); ok {
		s.MaxHeaderBytes = int(v)
	}
	if v, ok := t.integer("max_connections", 1, math.MaxInt32); ok {
		s.MaxConnections = int(v)
	}
	if v, ok := t.integer("max_request_size", 1, math.MaxInt64); ok {
		s.MaxRequestSize = v
	}
	if v, ok := t.boolean("event_loop"); ok {
		s.EventLoop = v
	}
	s.TLSCert, s.TLSKey = d.tlsPair(t)
	s.TLSAuto = d.tlsMode(t, s.TLSCert, false)
	if v, ok := t.strings("trusted_proxies"); ok {
		s.TrustedProxies = d.trustedProxies(t.field("trusted_proxies"), v)
	}
	if v, ok := t.str("real_ip_header", false); ok {
		switch {
		case strings.EqualFold(v, RealIPXForwardedFor):
			s.RealIPHeader = RealIPXForwardedFor
		case strings.EqualFold(v, RealIPForwarded):
			s.RealIPHeader = RealIPForwarded
		default:
			t.errorf("real_ip_header", ErrInvalid, "%q is not one of %s, %s", v, RealIPXForwardedFor, RealIPForwarded)
		}
		if !t.has("trusted_proxies") {
			t.errorf("real_ip_header", ErrConflict, "is read only from trusted_proxies, which is not set")
		}
	}
	if v, ok := t.boolean("proxy_protocol"); ok {
		s.ProxyProtocol = v
	}
	for i, p := range s.Protocols {
		switch {
		case !s.TLS() && (p == ProtocolHTTP2 || p == ProtocolHTTP3):
			d.errorf(indexPath(t.field("protocols"), i), ErrConflict, "%s needs tls_cert and tls_key, or tls = %q", p, TLSAuto)
		case s.TLS() && p == ProtocolH2C:
			d.errorf(indexPath(t.field("protocols"), i), ErrConflict, "h2c is HTTP/2 without TLS; with tls_cert use %q", ProtocolHTTP2)
		}
	}
	t.finish()
	return s
}

// trustedProxies checks a trusted_proxies list of CIDR prefixes and single
// addresses; field is its path.
func (d *decoder) trustedProxies(field string, v []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(v))
	seen := map[netip.Prefix]bool{}
	for i, s := range v {
		var p netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			if p, err = netip.ParsePrefix(s); err != nil {
				d.errorf(indexPath(field, i), ErrInvalid, "%q is not a CIDR prefix (10.0.0.0/8, 2001:db8::/32)", s)
				continue
			}
			if p.Masked() != p {
				d.errorf(indexPath(field, i), ErrInvalid, "%q has bits set past its /%d: %s", s, p.Bits(), p.Masked())
				continue
			}
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				d.errorf(indexPath(field, i), ErrInvalid, "%q is not an IP address or CIDR prefix", s)
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if seen[p] {
			d.errorf(indexPath(field, i), ErrDuplicate, "%q is listed twice", s)
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out
}

var protocolNames = []string{ProtocolHTTP1, ProtocolHTTP2, ProtocolHTTP3, ProtocolH2C}

// protocols checks a protocols list; field is its path.
func (d *decoder) protocols(field string, v []string) []string {
	if len(v) == 0 {
		d.errorf(field, ErrInvalid, "must name at least one of %s", strings.Join(protocolNames, ", "))
		return nil
	}
	seen := map[string]bool{}
	for i, p := range v {
		switch {
		case !slices.Contains(protocolNames, p):
			d.errorf(indexPath(field, i), ErrInvalid, "%q is not one of %s", p, strings.Join(protocolNames, ", "))
		case seen[p]:
			d.errorf(indexPath(field, i), ErrDuplicate, "%q is listed twice", p)
		}
		seen[p] = true
	}
	return slices.Compact(slices.Clone(v))
}

// tlsPair reads tls_cert and tls_key, which come together.
func (d *decoder) tlsPair(t *table) (cert, key string) {
	cert, _ = t.str("tls_cert", false)
	key, _ = t.str("tls_key", false)
	switch {
	case cert != "" && key == "":
		t.errorf("tls_key", ErrMissing, "is required with tls_cert")
	case cert == "" && key != "":
		t.errorf("tls_cert", ErrMissing, "is required with tls_key")
	}
	return d.resolve(cert), d.resolve(key)
}

func (d *decoder) host(t *table) Host {
	h := Host{RespondStatus: DefaultRespondStatus, ContentType: DefaultContentType}
	if v, ok := t.str("hostname", true); ok {
		if err := worker.ValidateHostname(v); err != nil {
			t.errorf("hostname", ErrInvalid, "%v", err)
		}
		h.Hostname = worker.CanonicalHostname(v)
	}
	if v, ok := t.str("tenant", false); ok {
		h.Tenant = v
	}
	if v, ok := t.str("root", false); ok {
		h.Root = d.resolve(v)
	}
	h.Dotfiles = rootSwitch(t, h.Root, "dotfiles", false)
	h.Precompressed = rootSwitch(t, h.Root, "precompressed", true)
	h.Compression = rootSwitch(t, h.Root, "compression", true)
	if v, ok := t.str("respond", false); ok {
		h.Respond = v
	}
	if v, ok := t.integer("respond_status", 100, 599); ok {
		h.RespondStatus = int(v)
	}
	if v, ok := t.str("content_type", false); ok {
		if v == "" || !validHeaderValue(v) {
			t.errorf("content_type", ErrInvalid, "must be a non-empty header value without control characters")
		}
		h.ContentType = v
	}
	if h.Respond == "" {
		for _, k := range []string{"respond_status", "content_type"} {
			if t.has(k) {
				t.errorf(k, ErrConflict, "applies only with a non-empty respond")
			}
		}
	}
	if ht, ok := t.sub("headers"); ok {
		h.Headers = d.headers(ht)
	}
	if ct, ok := t.sub("cache_control"); ok {
		if h.Root == "" {
			t.errorf("cache_control", ErrConflict, "applies only with root")
		}
		h.CacheControl = d.cacheControl(ct)
	}
	if v, ok := t.str("fallback", false); ok {
		switch {
		case h.Root == "":
			t.errorf("fallback", ErrConflict, "applies only with root")
		case !strings.HasPrefix(v, "/") || strings.ContainsAny(v, "\x00\\"):
			t.errorf("fallback", ErrInvalid, "must be a path from the root, like \"/index.html\"")
		}
		h.Fallback = v
	}
	if rt, ok := t.sub("rate_limit"); ok {
		h.RateLimit = d.rateLimit(rt)
	}
	h.TLSCert, h.TLSKey = d.tlsPair(t)
	h.TLSAuto = d.tlsMode(t, h.TLSCert, true)
	if pt, ok := t.sub("proxy"); ok {
		h.Proxy = d.proxy(pt)
	}
	if ct, ok := t.sub("cache"); ok {
		if h.Root != "" {
			t.errorf("cache", ErrConflict, "applies to proxy and respond hosts, not with root")
		}
		h.Cache = d.cache(ct)
	}
	var serves []string
	if h.Root != "" {
		serves = append(serves, "root")
	}
	if h.Respond != "" {
		serves = append(serves, "respond")
	}
	if h.Proxy != nil {
		serves = append(serves, "proxy")
	}
	for _, k := range serves[min(1, len(serves)):] {
		t.errorf(k, ErrConflict, "cannot be used with %s: a host serves one of root, respond and proxy", serves[0])
	}
	t.finish()
	return h
}

// headers reads a table of response headers: any name, string values.
func (d *decoder) headers(t *table) map[string]string {
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(map[string]string, len(keys))
	seen := make(map[string]string, len(keys))
	for _, k := range keys {
		v, ok := t.str(k, false)
		if !ok {
			continue
		}
		switch lk := strings.ToLower(k); {
		case !validHeaderName(k):
			t.errorf(k, ErrInvalid, "is not a valid header name")
		case !validHeaderValue(v):
			t.errorf(k, ErrInvalid, "header value must not contain control characters")
		case seen[lk] != "":
			t.errorf(k, ErrDuplicate, "is the same header as %q", seen[lk])
		default:
			seen[lk] = k
		}
		out[k] = v
	}
	t.finish()
	return out
}

// rootSwitch reads a boolean key that applies only to a host with a root:
// its value, or def when it is not given (false without a root).
func rootSwitch(t *table, root, key string, def bool) bool {
	v, ok := t.boolean(key)
	switch {
	case !ok:
		return def && root != ""
	case root == "":
		t.errorf(key, ErrConflict, "applies only with root")
	}
	return v
}

// cacheControl reads a host's cache_control table: path patterns to
// Cache-Control values.
func (d *decoder) cacheControl(t *table) map[string]string {
	out := make(map[string]string, len(t.m))
	for k := range t.m {
		v, ok := t.str(k, false)
		if !ok {
			continue
		}
		switch {
		case k == "" || (k[0] != '/' && k != "*") || strings.Contains(strings.TrimSuffix(k, "*"), "*"):
			t.errorf(k, ErrInvalid, "must be a path, a path ending in *, or *")
		case v == "" || !validHeaderValue(v):
			t.errorf(k, ErrInvalid, "must be a Cache-Control value without control characters")
		}
		out[k] = v
	}
	t.finish()
	return out
}

func (d *decoder) rateLimit(t *table) *RateLimit {
	r := &RateLimit{}
	if !t.has("requests_per_second") {
		t.missing("requests_per_second")
	}
	if v, ok := t.number("requests_per_second"); ok {
		switch {
		case v <= 0:
			t.errorf("requests_per_second", ErrInvalid, "must be > 0")
		case v < 0.001 || v > 1e9:
			t.errorf("requests_per_second", ErrInvalid, "must be from 0.001 to 1e9")
		}
		r.RequestsPerSecond = v
	}
	if v, ok := t.integer("burst", 0, math.MaxInt32); ok {
		r.Burst = int(v)
	}
	if v, ok := t.str("key", false); ok {
		if v != "" && v != KeyClientIP {
			t.errorf("key", ErrInvalid, "must be \"\" (one bucket) or %q (one per client)", KeyClientIP)
		}
		r.Key = v
	}
	if v, ok := t.integer("size", 1, MaxClientTableSize); ok {
		r.Size = int(v)
	}
	if v, ok := t.integer("ipv6_prefix", MinIPv6Prefix, 128); ok {
		if v%8 != 0 {
			t.errorf("ipv6_prefix", ErrInvalid, "must be a multiple of 8")
		}
		r.IPv6Prefix = int(v)
	}
	for _, k := range []string{"size", "ipv6_prefix"} {
		if r.Key != KeyClientIP && t.has(k) {
			t.errorf(k, ErrConflict, "applies only with key = %q", KeyClientIP)
		}
	}
	r.Scope = DefaultRateLimitScope
	if v, ok := t.str("scope", false); ok {
		switch v {
		case ScopeMachine, ScopeCluster:
			r.Scope = v
		default:
			t.errorf("scope", ErrInvalid, "must be %q or %q", ScopeMachine, ScopeCluster)
		}
	}
	if v, ok := t.str("on_cluster_failure", false); ok {
		switch {
		case v != FailureLocal && v != FailureDeny:
			t.errorf("on_cluster_failure", ErrInvalid, "must be %q or %q", FailureLocal, FailureDeny)
		case r.Scope != ScopeCluster:
			t.errorf("on_cluster_failure", ErrConflict, "applies only with scope = %q", ScopeCluster)
		default:
			r.OnClusterFailure = v
		}
	}
	if r.Scope == ScopeCluster {
		if r.OnClusterFailure == "" {
			r.OnClusterFailure = DefaultClusterFailure
		}
		if r.Key != "" {
			t.errorf("scope", ErrConflict, "scope = %q applies to a whole host or tenant, not with key = %q: per-client tables stay per machine", ScopeCluster, r.Key)
		}
	}
	if r.Key == KeyClientIP {
		if r.Size == 0 {
			r.Size = DefaultClientTableSize
		}
		if r.IPv6Prefix == 0 {
			r.IPv6Prefix = DefaultIPv6Prefix
		}
	}
	t.finish()
	return r
}

func (d *decoder) tenant(t *table) Tenant {
	var tn Tenant
	if v, ok := t.str("id", true); ok {
		if !validTenantID(v) {
			t.errorf("id", ErrInvalid, "must be 1 to 64 letters, digits, '.', '_' or '-'")
		}
		tn.ID = v
	}
	if v, ok := t.strings("hosts"); ok {
		tn.Hosts = make([]string, len(v))
		for i, name := range v {
			if err := worker.ValidateHostname(name); err != nil {
				d.errorf(indexPath(t.field("hosts"), i), ErrInvalid, "%v", err)
				continue // "" leaves it out of the reference checks
			}
			tn.Hosts[i] = worker.CanonicalHostname(name)
		}
	}
	if rt, ok := t.sub("rate_limit"); ok {
		tn.RateLimit = d.rateLimit(rt)
	}
	if v, ok := t.byteSize("cache_quota", MinCacheSize, MaxCacheSize); ok {
		tn.CacheQuota = v
	}
	t.finish()
	return tn
}

func validTenantID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validHeaderName reports whether s is an HTTP token (RFC 9110 5.6.2).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s has no control characters but tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
