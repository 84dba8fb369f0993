package cache

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/netutil/shm"
)

// X-Cache values.
const (
	Hit    = "HIT"
	Miss   = "MISS"
	Stale  = "STALE"
	Bypass = "BYPASS"
)

// DefaultTTL is how long a response that says nothing of its freshness
// is kept (Config.TTL's default).
const DefaultTTL = 60 * time.Second

// DefaultWait is how long a miss waits for the same key's fetch already
// under way, in this process or another sharing the store, before it asks
// the upstream itself (Config.Wait's default; nginx's
// proxy_cache_lock_timeout).
const DefaultWait = 5 * time.Second

// pollEvery is how often a miss waiting on another process's fetch looks
// for its answer.
const pollEvery = 2 * time.Millisecond

// Config configures a Cache in front of one host.
type Config struct {
	// Tenant is the host's tenant: the first part of every key. Default "".
	Tenant string
	// TTL is the freshness of a cacheable response without Cache-Control
	// max-age, s-maxage or Expires. Default DefaultTTL.
	TTL time.Duration
	// Wait bounds how long a miss waits on a fetch of its key by another
	// request of any process sharing the store (coalescing); a process
	// that dies fetching holds the others up this long at most. Default
	// DefaultWait.
	Wait time.Duration
	// Now is the clock, in nanoseconds shared by every process of the
	// store (CLOCK_MONOTONIC). Default: shm.Mono of time.Now, which
	// needs no system call.
	Now func() int64
}

// Cache answers a host's GET and HEAD requests from a Store and fills it
// with the answers of the handler it wraps (a proxy, or a generated
// response), as nginx's proxy_cache does: fresh entries are served (X-Cache:
// HIT); one request per key, among all the processes sharing the store,
// goes to the handler while the others wait for its answer (coalescing); an entry past its freshness is
// served while it is fetched again in the background inside its
// stale-while-revalidate window, and instead of an answer 500 or above
// inside its stale-if-error window (X-Cache: STALE). HEAD is answered
// from the GET entry. A response is stored as its Cache-Control, Expires
// and Vary say (ResponsePolicy); responses streamed past the handler's
// buffer (a body not whole in ctx.Response) pass through unstored.
type Cache struct {
	store *Store
	cfg   Config

	mu      sync.Mutex
	flights map[string]chan struct{}
	wg      sync.WaitGroup // background revalidations
	closed  bool
	waiters atomic.Int64 // requests waiting on another's fetch
}

// New returns a cache over store.
func New(store *Store, cfg Config) *Cache {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Wait <= 0 {
		cfg.Wait = DefaultWait
	}
	if cfg.Now == nil {
		cfg.Now = now
	}
	return &Cache{store: store, cfg: cfg, flights: make(map[string]chan struct{})}
}

// now is the default clock: shm's, from Go's monotonic reading.
func now() int64 { return shm.Mono(time.Now()) }

// Store returns the cache's store.
func (c *Cache) Store() *Store { return c.store }

// Config returns the cache's config, defaults filled in.
func (c *Cache) Config() Config { return c.cfg }

// Retire makes the cache start no more background revalidations (it still
// serves); Close waits for those in flight.
func (c *Cache) Retire() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

// Close retires the cache and waits for its background revalidations.
func (c *Cache) Close() {
	c.Retire()
	c.wg.Wait()
}

type scratch struct {
	key, vkey []byte
	e         Entry
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// varyMark starts the body of an entry that only lists a response's Vary
// headers: no stored status is 0xffff.
var varyMark = []byte{0xff, 0xff}

// AppendKey appends the key of a request for uri on host of tenant.
func AppendKey(dst []byte, tenant string, host, uri []byte) []byte {
	dst = append(dst, tenant...)
	dst = append(dst, 0)
	for _, ch := range host {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		dst = append(dst, ch)
	}
	dst = append(dst, 0)
	return append(dst, uri...)
}

// SplitKey returns the parts of a key made by AppendKey.
func SplitKey(key []byte) (tenant, host, uri []byte, ok bool) {
	i := bytes.IndexByte(key, 0)
	if i < 0 {
		return nil, nil, nil, false
	}
	j := bytes.IndexByte(key[i+1:], 0)
	if j < 0 {
		return nil, nil, nil, false
	}
	rest := key[i+2+j:]
	if k := bytes.IndexByte(rest, 0); k >= 0 { // a Vary suffix
		rest = rest[:k]
	}
	return key[:i], key[i+1 : i+1+j], rest, true
}

// lookup finds the entry for the request in s.key, through its Vary
// marker if it has one; s.vkey is then the key it was found under.
func (c *Cache) lookup(ctx *fasthttp.RequestCtx, s *scratch) bool {
	if !c.store.Get(s.key, &s.e) {
		return false
	}
	if !bytes.HasPrefix(s.e.Body, varyMark) {
		s.vkey = append(s.vkey[:0], s.key...)
		return true
	}
	s.vkey = appendVary(append(s.vkey[:0], s.key...), &ctx.Request.Header, s.e.Body[2:])
	return c.store.Get(s.vkey, &s.e) && !bytes.HasPrefix(s.e.Body, varyMark)
}

// appendVary appends to key the request's values of the comma-separated
// header names.
func appendVary(key []byte, h *fasthttp.RequestHeader, names []byte) []byte {
	for len(names) > 0 {
		var n []byte
		if i := bytes.IndexByte(names, ','); i >= 0 {
			n, names = names[:i], names[i+1:]
		} else {
			n, names = names, nil
		}
		n = bytes.TrimSpace(n)
		if len(n) == 0 {
			continue
		}
		key = append(key, 0)
		key = append(key, h.PeekBytes(n)...)
	}
	return key
}

// Wrap returns next with the cache in front of it.
func (c *Cache) Wrap(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) { c.serve(ctx, next) }
}

// Answer answers ctx from the store if it holds a fresh entry for it (a
// HIT) and reports whether it did; it never blocks nor calls a handler, so
// a worker's event loop may call it (worker.HostConfig.InlineAnswer). On
// false ctx.Response is as it was.
func (c *Cache) Answer(ctx *fasthttp.RequestCtx) bool {
	if bypass(ctx) {
		return false
	}
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	s.key = AppendKey(s.key[:0], c.cfg.Tenant, ctx.Host(), ctx.RequestURI())
	if _, hit := c.hit(ctx, s, c.cfg.Now()); hit {
		c.store.Count(true)
		return true
	}
	return false
}

// bypass reports whether a request is not the cache's: neither GET nor
// HEAD, or with credentials.
func bypass(ctx *fasthttp.RequestCtx) bool {
	return !ctx.IsGet() && !ctx.IsHead() || len(ctx.Request.Header.Peek("Authorization")) > 0
}

// hit looks s.key up and answers ctx with the entry if it is fresh at
// now: found says whether there was an entry, hit whether it answered.
func (c *Cache) hit(ctx *fasthttp.RequestCtx, s *scratch, now int64) (found, hit bool) {
	found = c.lookup(ctx, s)
	return found, found && now < s.e.Fresh && c.answer(ctx, &s.e, now, Hit)
}

func (c *Cache) serve(ctx *fasthttp.RequestCtx, next fasthttp.RequestHandler) {
	head := ctx.IsHead() // as asked: the handler may change the request
	if bypass(ctx) {
		next(ctx)
		ctx.Response.Header.Set("X-Cache", Bypass)
		return
	}
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	s.key = AppendKey(s.key[:0], c.cfg.Tenant, ctx.Host(), ctx.RequestURI())
	now := c.cfg.Now()
	found, hit := c.hit(ctx, s, now)
	if hit {
		c.store.Count(true)
		return
	}
	if found && now < s.e.SWR && c.answer(ctx, &s.e, now, Stale) {
		c.store.Count(true)
		c.revalidate(ctx, next, string(s.key))
		return
	}
	c.store.Count(false)
	leader, wait := c.join(string(s.key))
	if !leader {
		c.waiters.Add(1)
		t := time.NewTimer(c.cfg.Wait)
		select {
		case <-wait:
		case <-t.C:
		}
		t.Stop()
		c.waiters.Add(-1)
		now = c.cfg.Now()
		if found, hit = c.hit(ctx, s, now); hit {
			return
		}
	} else {
		defer c.leave(string(s.key))
		// The one fetch of the machine: another process's, if it has one
		// under way, is waited for too.
		if !c.store.Claim(s.key, now, now+int64(c.cfg.Wait)) {
			if c.awaitOther(ctx, s) {
				return
			}
			now = c.cfg.Now()
			found = c.lookup(ctx, s)
			c.store.Claim(s.key, now, now+int64(c.cfg.Wait))
		}
		defer c.store.Release(s.key)
	}
	next(ctx)
	if ctx.Response.StatusCode() >= 500 && found && now < s.e.SIE {
		ctx.Response.Reset()
		if c.answer(ctx, &s.e, now, Stale) {
			return
		}
	}
	if !head {
		c.offer(ctx, s.key, now)
	}
	ctx.Response.Header.Set("X-Cache", Miss)
}

// awaitOther waits, up to Config.Wait, for the fetch of s.key another
// process claimed, and answers ctx with what it stored (true); false when
// the claim ended (or timed out) without a fresh entry.
func (c *Cache) awaitOther(ctx *fasthttp.RequestCtx, s *scratch) bool {
	c.waiters.Add(1)
	defer c.waiters.Add(-1)
	deadline := c.cfg.Now() + int64(c.cfg.Wait)
	for {
		time.Sleep(pollEvery)
		now := c.cfg.Now()
		if _, hit := c.hit(ctx, s, now); hit {
			return true
		}
		if now >= deadline || !c.store.Fetching(s.key, now) {
			return false
		}
	}
}

// answer writes a stored response to ctx.
func (c *Cache) answer(ctx *fasthttp.RequestCtx, e *Entry, now int64, status string) bool {
	if !decode(e.Body, &ctx.Response) {
		ctx.Response.Reset()
		return false
	}
	var b [20]byte
	ctx.Response.Header.SetBytesV("Age", strconv.AppendInt(b[:0], max(now-e.Stored, 0)/int64(time.Second), 10))
	ctx.Response.Header.Set("X-Cache", status)
	return true
}

// join makes this request the one that fetches key (leader), or returns
// the channel that closes when the one fetching it is done.
func (c *Cache) join(key string) (leader bool, wait <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.flights[key]; ok {
		return false, ch
	}
	c.flights[key] = make(chan struct{})
	return true, nil
}

func (c *Cache) leave(key string) {
	c.mu.Lock()
	ch := c.flights[key]
	delete(c.flights, key)
	c.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// revalidate fetches key again in the background, unless a fetch of it
// is under way.
func (c *Cache) revalidate(ctx *fasthttp.RequestCtx, next fasthttp.RequestHandler, key string) {
	c.mu.Lock()
	if _, busy := c.flights[key]; busy || c.closed {
		c.mu.Unlock()
		return
	}
	now := c.cfg.Now()
	if !c.store.Claim([]byte(key), now, now+int64(c.cfg.Wait)) {
		c.mu.Unlock()
		return // another process refreshes it
	}
	c.flights[key] = make(chan struct{})
	c.wg.Add(1)
	c.mu.Unlock()
	req := fasthttp.AcquireRequest()
	ctx.Request.CopyTo(req)
	if ctx.IsHead() {
		req.Header.SetMethod(fasthttp.MethodGet)
	}
	remote := ctx.RemoteAddr()
	go func() {
		defer c.wg.Done()
		defer c.leave(key)
		defer c.store.Release([]byte(key))
		rc := new(fasthttp.RequestCtx)
		rc.Init(req, remote, nil)
		fasthttp.ReleaseRequest(req)
		next(rc)
		if rc.Response.StatusCode() < 500 {
			c.offer(rc, []byte(key), c.cfg.Now())
		}
		rc.Response.Reset()
	}()
}

// offer stores the response in ctx under key if it may be stored.
func (c *Cache) offer(ctx *fasthttp.RequestCtx, key []byte, now int64) {
	r := &ctx.Response
	if r.IsBodyStream() {
		return
	}
	p := ResponsePolicy(r.StatusCode(), func(name string) []byte { return r.Header.Peek(name) }, c.cfg.TTL)
	if !p.Store {
		return
	}
	fresh := now + int64(p.TTL)
	e := Entry{Fresh: fresh, SWR: fresh + int64(p.SWR), SIE: fresh + int64(p.SIE), Stored: now}
	if vary := r.Header.Peek("Vary"); len(vary) > 0 {
		mark := Entry{Fresh: e.Fresh, SWR: max(e.SWR, e.SIE), SIE: max(e.SWR, e.SIE), Stored: now}
		mark.Body = append(append([]byte(nil), varyMark...), vary...)
		if !c.store.Put(key, &mark) {
			return
		}
		key = appendVary(append([]byte(nil), key...), &ctx.Request.Header, vary)
	}
	for _, name := range [...]string{"Surrogate-Key", "Cache-Tag"} {
		if v := r.Header.Peek(name); len(v) > 0 {
			if len(e.Tags) > 0 {
				e.Tags = append(e.Tags, ' ')
			}
			e.Tags = append(e.Tags, bytes.ReplaceAll(v, []byte(","), []byte(" "))...)
		}
	}
	e.Body = encode(nil, r)
	c.store.Put(key, &e)
}

// Match returns the purge predicate for tenant's entries (Store.Purge):
// those whose URI starts with prefix (any with ""), on host (any with
// ""), tagged tag (any with "").
func Match(tenant, host, prefix, tag string) func(key, tags []byte) bool {
	return func(key, tags []byte) bool {
		t, h, uri, ok := SplitKey(key)
		if !ok || string(t) != tenant {
			return false
		}
		if host != "" && string(h) != host {
			return false
		}
		if !bytes.HasPrefix(uri, []byte(prefix)) {
			return false
		}
		if tag == "" {
			return true
		}
		for f := range bytes.FieldsSeq(tags) {
			if string(f) == tag {
				return true
			}
		}
		return false
	}
}

// Middleware is Wrap as a worker.MiddlewareFunc, for a host's
// worker.HostConfig.Middleware ([0] runs first: put it before the
// handler it caches).
func (c *Cache) Middleware(next fasthttp.RequestHandler) fasthttp.RequestHandler { return c.Wrap(next) }
