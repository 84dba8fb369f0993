package proxy

import (
	"math/rand/v2"
	"slices"

	"github.com/valyala/fasthttp"
)

// pick returns the upstream for the next try of a request: one that is in
// rotation and not in tried, chosen by the pool's strategy; nil if none is
// left.
func (p *proxyPool) pick(ctx *fasthttp.RequestCtx, tried []*upstream) *upstream {
	ups := p.ups
	n := len(ups)
	usable := func(u *upstream) bool {
		return u.available() && (len(tried) == 0 || !slices.Contains(tried, u))
	}
	switch p.strategy {
	case stratRoundRobin:
		i := p.rr.Add(1) - 1
		if u := ups[i%uint64(n)]; usable(u) {
			return u
		}
		// Its turn was taken: share it evenly among the usable ones.
		var buf [16]*upstream
		ok := buf[:0]
		for _, u := range ups {
			if usable(u) {
				ok = append(ok, u)
			}
		}
		if len(ok) == 0 {
			return nil
		}
		return ok[i%uint64(len(ok))]
	case stratLeastConn:
		start := int((p.rr.Add(1) - 1) % uint64(n))
		var best *upstream
		var bestLoad int64
		for k := range n {
			u := ups[(start+k)%n]
			if !usable(u) {
				continue
			}
			if l := u.inflight.Load(); best == nil || l < bestLoad {
				best, bestLoad = u, l
			}
		}
		return best
	case stratIPHash:
		h := clientHash(ctx)
		var best *upstream
		var bestW uint64
		for _, u := range ups {
			if !usable(u) {
				continue
			}
			if w := mix64(h ^ u.key); best == nil || w > bestW {
				best, bestW = u, w
			}
		}
		return best
	default: // stratRandomTwo
		if n == 1 {
			if usable(ups[0]) {
				return ups[0]
			}
			return nil
		}
		a := rand.IntN(n)
		b := rand.IntN(n - 1)
		if b >= a {
			b++
		}
		ua, ub := ups[a], ups[b]
		okA, okB := usable(ua), usable(ub)
		switch {
		case okA && okB:
			if ub.inflight.Load() < ua.inflight.Load() {
				return ub
			}
			return ua
		case okA:
			return ua
		case okB:
			return ub
		}
		// Both are out: the least loaded of the rest.
		var best *upstream
		var bestLoad int64
		for k := range n {
			u := ups[(a+k)%n]
			if !usable(u) {
				continue
			}
			if l := u.inflight.Load(); best == nil || l < bestLoad {
				best, bestLoad = u, l
			}
		}
		return best
	}
}

// clientHash hashes the client's IP address (not X-Forwarded-For, which
// the client writes). The hashes are the same in every process, so that
// the workers of a supervisor send a client to the same upstream.
func clientHash(ctx *fasthttp.RequestCtx) uint64 {
	ip := ctx.RemoteIP()
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return fnv64a(ip)
}

// fnv64a is FNV-1a, 64 bits.
func fnv64a(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// mix64 is splitmix64's finalizer: it spreads h ^ key so that the highest
// weight of rendezvous hashing is a fair draw per upstream.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
