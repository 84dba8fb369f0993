package supervisor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rockstar-dev/rockstar/supervisor"
)

// chromiumPath finds Debian's chromium (packages chromium and
// chromium-driver, which .ci/run installs).
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// pageFigures is what the status page shows, read back from its DOM: each
// cell carries the /status field it shows in data-k.
type pageFigures struct {
	Seq     string                       `json:"seq"`
	Ready   string                       `json:"ready"`
	Hosts   map[string]map[string]string `json:"hosts"`
	Tenants map[string]map[string]string `json:"tenants"`
	Workers []map[string]string          `json:"workers"`
	Error   string                       `json:"error"`
}

const readPage = `(() => {
  const cells = tr => Object.fromEntries([...tr.children].map(td => [td.dataset.k, td.textContent]));
  const rows = sel => Object.fromEntries([...document.querySelectorAll(sel + " tr")].map(tr => [tr.dataset.name, cells(tr)]));
  return {
    seq: document.getElementById("seq").textContent,
    ready: document.getElementById("ready").textContent,
    hosts: rows("#hosts"),
    tenants: rows("#tenants"),
    workers: [...document.querySelectorAll("#workers tr")].map(cells),
    error: document.getElementById("error").textContent,
  };
})()`

// statusPageConfig follows configHead: a limited host, a plain one and a
// failing one, in two tenants.
const statusPageConfig = `
[[server]]
listen = "127.0.0.1:0"

[[host]]
hostname = "a.test"
respond = "a"
rate_limit = { requests_per_second = 50, burst = 10 }

[[host]]
hostname = "b.test"
respond = "b"

[[host]]
hostname = "c.test"
respond = "down"
respond_status = 500

[[tenant]]
id = "shop"
hosts = ["a.test", "b.test"]

[[tenant]]
id = "ops"
hosts = ["c.test"]
`

// TestStatusPageInChromium loads /status/ in headless Chromium while the
// server is under load, and checks that the figures it shows are those of
// /status: the workers, and per host and tenant the rates, error rates and
// rate-limit refusals.
func TestStatusPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary and a browser")
	}
	chrome := chromiumPath()
	if chrome == "" {
		t.Skip("chromium is not installed (Debian: apt-get install chromium chromium-driver; .ci/run installs them)")
	}
	m := startMaster(t, configHead(2, "info", "")+statusPageConfig)
	m.waitWorkers(2, 10*time.Second)
	_, stop := hammer(t, m.addr, "GET", []string{"a.test", "b.test", "c.test"}, 12, time.Minute)
	defer stop()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Containers often have a small /dev/shm; Chromium crashes when
		// it fills up.
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()

	url := "http://" + m.admin + "/status/"
	if err := chromedp.Do(bctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`#hosts tr[data-name="a.test"]`)),
	); err != nil {
		t.Fatalf("load %s in chromium: %v", url, err)
	}
	seqOnPage := func() string {
		t.Helper()
		seq, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("seq")))
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}

	var page pageFigures
	var lastDiff []string
	matched := false
	for attempt := 0; attempt < 30 && !matched; attempt++ {
		// Wait for the page to render a new sample, then read it and
		// /status at once, so that both most likely show the same one.
		seq := seqOnPage()
		for deadline := time.Now().Add(5 * time.Second); seqOnPage() == seq && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		var err error
		if page, err = chromedp.Run(bctx, chromedp.Evaluate[pageFigures](readPage)); err != nil {
			t.Fatal(err)
		}
		_, _, body := adminGet(t, m.admin, "/status")
		var st supervisor.Status
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		lastDiff = comparePage(page, st)
		matched = len(lastDiff) == 0
	}
	if !matched {
		t.Fatalf("the page never showed what /status said; last differences:\n%s\npage: %+v", strings.Join(lastDiff, "\n"), page)
	}
	// The figures are the load's: traffic on every host, refusals on the
	// limited one, errors on the failing one.
	a, b, c := page.Hosts["a.test"], page.Hosts["b.test"], page.Hosts["c.test"]
	for _, f := range []struct {
		what string
		ok   bool
	}{
		{"a.test req/s > 0", num(a["requests_per_second"]) > 0},
		{"a.test 429/s > 0", num(a["rate_limited_per_second"]) > 0},
		{"b.test req/s > 0", num(b["requests_per_second"]) > 0},
		{"c.test 5xx/s > 0", num(c["5xx_per_second"]) > 0},
		{"c.test errors 100%", c["error_percent"] == "100.0"},
		{"b.test errors 0%", b["error_percent"] == "0.0"},
		{"shop tenant req/s > 0", num(page.Tenants["shop"]["requests_per_second"]) > 0},
		{"page says ready", page.Ready == "ready"},
		{"two workers", len(page.Workers) == 2},
	} {
		if !f.ok {
			t.Errorf("%s: page shows %+v", f.what, page)
		}
	}
	t.Logf("page and /status agree on sample %s: a.test %s req/s (%s 429/s), b.test %s req/s, c.test %s 5xx/s",
		page.Seq, a["requests_per_second"], a["rate_limited_per_second"], b["requests_per_second"], c["5xx_per_second"])
}

func num(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// comparePage lists where the page differs from st.
func comparePage(p pageFigures, st supervisor.Status) []string {
	var diff []string
	if p.Error != "" {
		diff = append(diff, "page error: "+p.Error)
	}
	if st.Traffic == nil {
		return append(diff, "no traffic in /status yet")
	}
	if p.Seq != strconv.FormatUint(st.Traffic.Seq, 10) {
		return append(diff, fmt.Sprintf("page shows sample %s, /status %d", p.Seq, st.Traffic.Seq))
	}
	rates := func(what string, shown map[string]map[string]string, want map[string]supervisor.Rates) {
		if len(shown) != len(want) {
			diff = append(diff, fmt.Sprintf("%s: page shows %d, /status has %d", what, len(shown), len(want)))
		}
		for name, r := range want {
			row, ok := shown[name]
			if !ok {
				diff = append(diff, fmt.Sprintf("%s %s: not on the page", what, name))
				continue
			}
			for k, v := range map[string]string{
				"requests_per_second":     fmt.Sprintf("%.1f", r.RPS),
				"4xx_per_second":          fmt.Sprintf("%.1f", r.ClientErrors),
				"5xx_per_second":          fmt.Sprintf("%.1f", r.ServerErrors),
				"error_percent":           fmt.Sprintf("%.1f", r.ErrorRate),
				"rate_limited_per_second": fmt.Sprintf("%.1f", r.Limited),
				"requests_total":          strconv.FormatUint(r.Requests, 10),
				"rate_limited_total":      strconv.FormatUint(r.RateLimited, 10),
			} {
				if row[k] != v {
					diff = append(diff, fmt.Sprintf("%s %s %s: page %q, /status %q", what, name, k, row[k], v))
				}
			}
			if what == "host" && row["tenant"] != r.Tenant {
				diff = append(diff, fmt.Sprintf("host %s tenant: page %q, /status %q", name, row["tenant"], r.Tenant))
			}
		}
	}
	rates("host", p.Hosts, st.Traffic.Hosts)
	rates("tenant", p.Tenants, st.Traffic.Tenants)
	workers := append(st.Workers, st.Draining...)
	if len(p.Workers) != len(workers) {
		diff = append(diff, fmt.Sprintf("page shows %d workers, /status %d", len(p.Workers), len(workers)))
	}
	for _, w := range workers {
		found := false
		for _, row := range p.Workers {
			if row["pid"] != strconv.Itoa(w.PID) {
				continue
			}
			found = true
			for k, v := range map[string]string{
				"slot": strconv.Itoa(w.Slot), "generation": strconv.Itoa(w.Generation), "state": w.State,
				"requests": strconv.FormatUint(w.Requests, 10), "active_connections": strconv.FormatInt(w.Active, 10),
				"restarts": strconv.Itoa(w.Restarts),
			} {
				if row[k] != v {
					diff = append(diff, fmt.Sprintf("worker %d %s: page %q, /status %q", w.PID, k, row[k], v))
				}
			}
		}
		if !found {
			diff = append(diff, fmt.Sprintf("worker %d not on the page", w.PID))
		}
	}
	return diff
}
