package supervisor

import (
	"sync"
	"time"
)

// issueLimiter bounds how many certificates are obtained on demand: a
// token bucket of n tokens that fills at n per interval, so that a flood
// of handshakes for new names cannot spend the CA's limits.
type issueLimiter struct {
	mu     sync.Mutex
	n      float64
	per    time.Duration
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newIssueLimiter(n int, per time.Duration) *issueLimiter {
	return &issueLimiter{n: float64(n), per: per, tokens: float64(n), now: time.Now}
}

// allow takes a token, if there is one.
func (l *issueLimiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() {
		l.tokens = min(l.n, l.tokens+l.n*float64(now.Sub(l.last))/float64(l.per))
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}
