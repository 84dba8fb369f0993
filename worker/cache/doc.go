// Package cache is Rockstar's response cache, nginx's proxy_cache for
// proxied and generated responses alike:
//
//   - store.go: Store, the entries of one tenant in one piece of memory
//     that every worker of a machine maps (the master creates it): a ring
//     of entries, oldest evicted first, with a hash index, under one
//     cross-process lock; its counters (hits, misses, stores, evictions,
//     purges, bytes) live in the same memory, so they are the machine's.
//   - cache.go: Cache, a handler wrapper (Wrap, or Middleware for a
//     worker.HostConfig) that answers GET and HEAD from the store (X-Cache:
//     HIT), coalesces concurrent misses of a key into one call of the
//     handler, in all the processes sharing the store (Store.Claim), serves stale entries inside their stale-while-revalidate
//     and stale-if-error windows (X-Cache: STALE), and stores what the
//     handler answers when its headers allow it (MISS).
//   - control.go: ResponsePolicy, what Cache-Control (max-age, s-maxage,
//     no-store, private, no-cache, stale-while-revalidate, stale-if-error),
//     Expires, Vary and Set-Cookie say about keeping a response.
//   - encode.go: the stored form of a response.
//
// A key is the tenant, the host and the request URI, and, for a response
// with Vary, the request's values of the headers it names: a tenant's
// Cache never reads or fills another's entries, and Match, the purge
// predicate, only matches the tenant it is given.
package cache
