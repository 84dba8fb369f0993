package cache

import (
	"bytes"
	"strconv"
	"time"
)

// Policy is what a response's headers say about storing it in a shared
// cache (RFC 9111).
type Policy struct {
	// Store is false for a response that must not be kept: no-store,
	// private, no-cache, Vary: *, a Set-Cookie, or a status that is not
	// cacheable.
	Store bool
	// TTL is how long it is fresh: s-maxage, else max-age, else Expires
	// minus Date, else the default; Explicit says the response said so.
	TTL      time.Duration
	Explicit bool
	// SWR and SIE are its stale-while-revalidate and stale-if-error windows.
	SWR, SIE time.Duration

	sMaxAge bool // s-maxage was seen: max-age does not override it
}

// cacheableStatus: the statuses a cache may store without explicit
// freshness (RFC 9110 section 15.1), with the default TTL.
func cacheableStatus(code int) bool {
	switch code {
	case 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// ParseCacheControl reads the directives of a Cache-Control value into p:
// it clears p.Store for no-store, private and no-cache, and sets the TTL
// and stale windows. Unknown directives are ignored.
func ParseCacheControl(v []byte, p *Policy) {
	for len(v) > 0 {
		var d []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			d, v = v[:i], v[i+1:]
		} else {
			d, v = v, nil
		}
		d = bytes.TrimSpace(d)
		name, arg := d, []byte(nil)
		if i := bytes.IndexByte(d, '='); i >= 0 {
			name, arg = bytes.TrimSpace(d[:i]), bytes.Trim(bytes.TrimSpace(d[i+1:]), `"`)
		}
		switch {
		case equalFold(name, "no-store"), equalFold(name, "private"), equalFold(name, "no-cache"):
			p.Store = false
		case equalFold(name, "s-maxage"):
			if n, ok := seconds(arg); ok {
				p.TTL, p.Explicit = n, true
				p.sMaxAge = true
			}
		case equalFold(name, "max-age"):
			if n, ok := seconds(arg); ok && !p.sMaxAge {
				p.TTL, p.Explicit = n, true
			}
		case equalFold(name, "stale-while-revalidate"):
			if n, ok := seconds(arg); ok {
				p.SWR = n
			}
		case equalFold(name, "stale-if-error"):
			if n, ok := seconds(arg); ok {
				p.SIE = n
			}
		}
	}
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func seconds(b []byte) (time.Duration, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b), 10, 32)
	if err != nil {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// ResponsePolicy decides how a response of status code with headers get
// (a lookup by name, nil for none) is stored, defaultTTL applying where it
// says nothing.
func ResponsePolicy(code int, get func(name string) []byte, defaultTTL time.Duration) Policy {
	p := Policy{Store: cacheableStatus(code), TTL: defaultTTL}
	if cc := get("Cache-Control"); cc != nil {
		ParseCacheControl(cc, &p)
	}
	if !p.Explicit {
		if exp := get("Expires"); exp != nil {
			t, err := time.Parse(time.RFC1123, string(exp))
			if err != nil {
				p.Store = false // an invalid Expires means already expired
			} else {
				date := time.Now()
				if d := get("Date"); d != nil {
					if dt, err := time.Parse(time.RFC1123, string(d)); err == nil {
						date = dt
					}
				}
				p.TTL, p.Explicit = max(t.Sub(date), 0), true
			}
		}
	}
	if get("Set-Cookie") != nil || bytes.Contains(get("Vary"), []byte("*")) {
		p.Store = false
	}
	if p.TTL <= 0 && p.SWR <= 0 && p.SIE <= 0 {
		p.Store = false
	}
	return p
}
