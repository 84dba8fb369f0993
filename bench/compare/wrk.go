package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run reports.
type wrkResult struct {
	Requests  int64   `json:"requests"`
	Seconds   float64 `json:"seconds"`
	ReqPerSec float64 `json:"req_per_sec"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
	// Errors is wrk's socket errors (connect, read, write, timeout) plus
	// non-2xx/3xx responses.
	Errors int64 `json:"errors"`
}

// runWrk runs wrk -t1 -cN -dD --latency against url, pinned to cpu when
// cpu is not empty.
func (e *env) runWrk(ctx context.Context, wrk, cpu, url string, conns int, d time.Duration) (wrkResult, string, error) {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	args := e.pinArgs(cpu, wrk, "-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", secs), "--latency", url)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, string(out), fmt.Errorf("wrk: %w: %s", err, strings.TrimSpace(string(out)))
	}
	r, err := parseWrk(string(out))
	return r, string(out), err
}

// parseWrk reads wrk's --latency report.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveRPS, have50, have99 bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "Requests/sec:") && len(f) == 2:
			r.ReqPerSec, _ = strconv.ParseFloat(f[1], 64)
			haveRPS = true
		case len(f) == 2 && f[0] == "50%":
			r.P50us, have50 = parseDur(f[1])
		case len(f) == 2 && f[0] == "99%":
			r.P99us, have99 = parseDur(f[1])
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			r.Requests, _ = strconv.ParseInt(f[0], 10, 64)
			if s, ok := parseDur(strings.TrimSuffix(f[3], ",")); ok {
				r.Seconds = s / 1e6
			}
		case strings.HasPrefix(line, "Socket errors:"):
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
				r.Errors += n
			}
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			n, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
			r.Errors += n
		}
	}
	if !haveRPS || !have50 || !have99 || r.Requests == 0 {
		return r, fmt.Errorf("wrk: cannot read its report:\n%s", out)
	}
	return r, nil
}

// parseDur reads one of wrk's durations (12.34us, 1.02ms, 2.00s, 1.00m)
// as microseconds.
func parseDur(s string) (float64, bool) {
	units := []struct {
		suffix string
		us     float64
	}{{"us", 1}, {"ms", 1e3}, {"s", 1e6}, {"m", 60e6}, {"h", 3600e6}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			x, err := strconv.ParseFloat(v, 64)
			return x * u.us, err == nil
		}
	}
	return 0, false
}
