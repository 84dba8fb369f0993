// Command h3load is a small HTTP/3 load generator on quic-go's client: the
// h3 counterpart of h2load in bench/h2.sh.
//
//	go build -o /tmp/h3load ./bench/h3load
//	/tmp/h3load -url https://127.0.0.1:8443/ -c 16 -m 10 -d 10s -warmup 1s -insecure
//
// It opens -c QUIC connections (one http3.Transport, and so one UDP socket
// and one connection, each), first sends one GET on each, so that every
// handshake is done before the clock starts, then keeps -m GETs in flight on
// each connection, each request on a stream of its own, for -warmup and then
// -d. The requests that complete within -d (after the warm-up) are counted,
// with their latency, from the request's start to the last byte of its body;
// the ones cut off by the end are neither counted nor errors. It prints one
// line:
//
//	h3load: requests N, req/s X, p50 Y ms, p99 Z ms, errors E
//
// or, with -json, the same figures as one JSON object. req/s is N / -d; p50
// and p99 are nearest-rank percentiles of the counted requests. An error is
// a request that failed or whose status was not 2xx, at any time after the
// connections were opened (warm-up included); the first one is also written
// to stderr.
//
// -insecure skips the verification of the server's certificate, -cacert FILE
// verifies it against the PEM certificates in FILE instead of the system's.
//
// It stops at the deadline, waits for every request it started, and closes
// its connections before it prints. It exits 0 when there were no errors, 1
// when there were, 2 on bad flags or when a connection could not be opened.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// errStatus is wrapped by the error of a request answered with a status
// other than 2xx.
var errStatus = errors.New("h3load: not a 2xx status")

// config is what the flags say.
type config struct {
	target   string        // -url: the https:// URL to GET
	conns    int           // -c: QUIC connections (default 1)
	streams  int           // -m: requests in flight per connection (default 1)
	duration time.Duration // -d: the measured time (default 10s)
	warmup   time.Duration // -warmup: before -d, not counted (default 1s)
	connect  time.Duration // -connect-timeout: for opening the connections (default 10s)
	jsonOut  bool          // -json: print a JSON object instead of the line
	tls      *tls.Config   // from -insecure and -cacert
}

// result is what a run measured.
type result struct {
	Requests  int     `json:"requests"`
	ReqPerSec float64 `json:"req_per_s"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	Errors    int     `json:"errors"`
	// FirstError is the first request error, "" when there was none.
	FirstError string `json:"first_error,omitempty"`
}

// String is the line h3load prints.
func (r result) String() string {
	return fmt.Sprintf("h3load: requests %d, req/s %.1f, p50 %.3f ms, p99 %.3f ms, errors %d",
		r.Requests, r.ReqPerSec, r.P50ms, r.P99ms, r.Errors)
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main with its arguments and outputs; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, err)
		}
		return 2
	}
	res, err := load(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if res.FirstError != "" {
		fmt.Fprintf(stderr, "h3load: first error: %s\n", res.FirstError)
	}
	if cfg.jsonOut {
		if err := json.NewEncoder(stdout).Encode(res); err != nil {
			fmt.Fprintf(stderr, "h3load: %v\n", err)
			return 2
		}
	} else {
		fmt.Fprintln(stdout, res)
	}
	if res.Errors > 0 {
		return 1
	}
	return 0
}

// parseFlags reads args into a config.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("h3load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var insecure bool
	var cacert string
	fs.StringVar(&cfg.target, "url", "", "the https:// URL to GET (required)")
	fs.IntVar(&cfg.conns, "c", 1, "QUIC connections")
	fs.IntVar(&cfg.streams, "m", 1, "concurrent streams (requests in flight) per connection")
	fs.DurationVar(&cfg.duration, "d", 10*time.Second, "measured duration")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "warm-up before the measured duration, not counted")
	fs.DurationVar(&cfg.connect, "connect-timeout", 10*time.Second, "time allowed to open the connections")
	fs.BoolVar(&cfg.jsonOut, "json", false, "print the result as a JSON object")
	fs.BoolVar(&insecure, "insecure", false, "do not verify the server's certificate")
	fs.StringVar(&cacert, "cacert", "", "verify the server's certificate against the PEM certificates in this file")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("h3load: unexpected arguments %q", fs.Args())
	}
	u, err := url.Parse(cfg.target)
	if err != nil {
		return config{}, fmt.Errorf("h3load: -url: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return config{}, fmt.Errorf("h3load: -url %q: want https://host[:port]/path", cfg.target)
	}
	switch {
	case cfg.conns < 1 || cfg.streams < 1:
		return config{}, fmt.Errorf("h3load: -c %d -m %d: both must be at least 1", cfg.conns, cfg.streams)
	case cfg.duration <= 0 || cfg.warmup < 0 || cfg.connect <= 0:
		return config{}, fmt.Errorf("h3load: -d %v -warmup %v -connect-timeout %v: durations must be positive", cfg.duration, cfg.warmup, cfg.connect)
	}
	cfg.tls = &tls.Config{InsecureSkipVerify: insecure}
	if cacert != "" {
		pem, err := os.ReadFile(cacert)
		if err != nil {
			return config{}, fmt.Errorf("h3load: -cacert: %w", err)
		}
		cfg.tls.RootCAs = x509.NewCertPool()
		if !cfg.tls.RootCAs.AppendCertsFromPEM(pem) {
			return config{}, fmt.Errorf("h3load: -cacert %s: no PEM certificate in it", cacert)
		}
	}
	return cfg, nil
}

// stream is one request loop's tally; only its own goroutine writes it
// until load's Wait returns.
type stream struct {
	latencies []time.Duration
	errors    int
	firstErr  error
}

// load runs the connections and their streams and returns the figures; its
// error says a connection could not be opened.
func load(ctx context.Context, cfg config) (result, error) {
	transports := make([]*http3.Transport, cfg.conns)
	for i := range transports {
		transports[i] = &http3.Transport{TLSClientConfig: cfg.tls.Clone()}
	}
	defer func() {
		for _, t := range transports {
			t.Close() // after Wait: nothing is in flight any more
		}
	}()
	if err := connect(ctx, cfg, transports); err != nil {
		return result{}, err
	}

	from := time.Now().Add(cfg.warmup)
	until := from.Add(cfg.duration)
	runCtx, stop := context.WithDeadline(ctx, until)
	defer stop()
	streams := make([]stream, cfg.conns*cfg.streams)
	var wg sync.WaitGroup
	for i := range streams {
		s, t := &streams[i], transports[i/cfg.streams]
		wg.Go(func() { s.loop(runCtx, t, cfg.target, from, until) })
	}
	wg.Wait()

	var res result
	var all []time.Duration
	for i := range streams {
		all = append(all, streams[i].latencies...)
		res.Errors += streams[i].errors
		if res.FirstError == "" && streams[i].firstErr != nil {
			res.FirstError = streams[i].firstErr.Error()
		}
	}
	slices.Sort(all)
	res.Requests = len(all)
	res.ReqPerSec = float64(len(all)) / cfg.duration.Seconds()
	res.P50ms = ms(percentile(all, 0.50))
	res.P99ms = ms(percentile(all, 0.99))
	return res, nil
}

// connect sends one GET on each transport, so that its connection is open
// (its handshake done) before the clock starts.
func connect(ctx context.Context, cfg config, transports []*http3.Transport) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.connect)
	defer cancel()
	errs := make([]error, len(transports))
	var wg sync.WaitGroup
	for i, t := range transports {
		wg.Go(func() {
			if err := get(ctx, t, cfg.target); err != nil {
				errs[i] = fmt.Errorf("h3load: connection %d: %w", i+1, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// loop sends one GET after the other on rt until ctx ends, and records the
// latency of each that completes within [from, until].
func (s *stream) loop(ctx context.Context, rt http.RoundTripper, target string, from, until time.Time) {
	for ctx.Err() == nil {
		start := time.Now()
		err := get(ctx, rt, target)
		end := time.Now()
		if ctx.Err() != nil {
			return // cut off at the deadline
		}
		if err != nil {
			s.errors++
			if s.firstErr == nil {
				s.firstErr = err
			}
			continue
		}
		if !end.Before(from) && !end.After(until) {
			s.latencies = append(s.latencies, end.Sub(start))
		}
	}
}

// get sends one GET for target on rt and reads the whole body.
func get(ctx context.Context, rt http.RoundTripper, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("h3load: %w", err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("h3load: get: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("h3load: body: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%w: %d", errStatus, resp.StatusCode)
	}
	return nil
}

// percentile is the nearest-rank q-percentile of sorted, 0 when it is empty.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
