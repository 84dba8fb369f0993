package supervisor_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadResult counts what the clients of a load loop saw.
type loadResult struct {
	OK, Non2xx, ConnectErrs, OtherErrs atomic.Int64
	firstErr                           atomic.Value
}

func (r *loadResult) failures() int64 {
	return r.Non2xx.Load() + r.ConnectErrs.Load() + r.OtherErrs.Load()
}

func (r *loadResult) String() string {
	s := ""
	if e, ok := r.firstErr.Load().(string); ok {
		s = " first error: " + e
	}
	return "ok=" + itoa(r.OK.Load()) + " non2xx=" + itoa(r.Non2xx.Load()) +
		" connect=" + itoa(r.ConnectErrs.Load()) + " other=" + itoa(r.OtherErrs.Load()) + s
}

func itoa(n int64) string { return formatInt(n) }

// Answered counts the requests that got a response.
func (r *loadResult) Answered() int64 { return r.OK.Load() + r.Non2xx.Load() }

// Errs counts the requests that got no response.
func (r *loadResult) Errs() int64 { return r.ConnectErrs.Load() + r.OtherErrs.Load() }

// served waits until the clients have had n more good answers: a test
// runs its load for a while on a condition, not on a sleep.
func (r *loadResult) served(t testing.TB, n int64) {
	t.Helper()
	want := r.OK.Load() + n
	waitFor(t, "load answers", 20*time.Second, func() bool { return r.OK.Load() >= want })
}

// load keeps conns keep-alive clients busy with GET / against addr until
// stop is called, which waits for them and returns the counts. Requests go
// to 127.0.0.1 only and stop by themselves after max.
func load(t testing.TB, addr, host string, conns int, max time.Duration) (stop func() *loadResult) {
	t.Helper()
	_, stop = startLoad(addr, host, "GET", conns, max)
	return stop
}

// startLoad is load with the method given, and the live counts returned
// too. net/http retries a failed GET on a reused connection but never a
// POST, so POST counts each request exactly once.
func startLoad(addr, host, method string, conns int, max time.Duration) (res *loadResult, stop func() *loadResult) {
	res = &loadResult{}
	stopLoad := runLoad(addr, method, []string{host}, conns, max, res.record)
	return res, func() *loadResult {
		stopLoad()
		return res
	}
}

// record counts one answer or failure, telling connect errors apart.
func (r *loadResult) record(resp *http.Response, err error) {
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			r.ConnectErrs.Add(1)
		} else {
			r.OtherErrs.Add(1)
		}
		r.firstErr.CompareAndSwap(nil, err.Error())
		return
	}
	if resp.StatusCode/100 == 2 {
		r.OK.Add(1)
	} else {
		r.Non2xx.Add(1)
		r.firstErr.CompareAndSwap(nil, resp.Status)
	}
}

// runLoad is the load loop every test uses: conns keep-alive clients send
// method / to addr (127.0.0.1 only), spread over hosts, until stop is
// called or max passes; record sees each answer (its body already read)
// or failure. stop waits for every client and may be called again.
func runLoad(addr, method string, hosts []string, conns int, max time.Duration, record func(*http.Response, error)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	deadline := time.Now().Add(max)
	for i := range conns {
		host := hosts[i%len(hosts)]
		wg.Go(func() {
			tr := &http.Transport{MaxIdleConnsPerHost: 1, DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for time.Now().Before(deadline) {
				select {
				case <-done:
					return
				default:
				}
				req, _ := http.NewRequest(method, "http://"+addr+"/", nil)
				req.Host = host
				resp, err := c.Do(req)
				if err != nil {
					record(nil, err)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				record(resp, nil)
			}
		})
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}
