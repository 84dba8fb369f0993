package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const wrkReport = `Running 5s test @ http://127.0.0.1:8080/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   290.12us  101.00us   3.01ms   90.00%
    Req/Sec   221.00k     3.00k  225.00k    80.00%
  Latency Distribution
     50%  264.00us
     75%  300.00us
     90%  350.00us
     99%    1.02ms
  1104512 requests in 5.00s, 140.14MB read
  Socket errors: connect 1, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec: 220868.60
Transfer/sec:     28.02MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkReport)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{Requests: 1104512, Seconds: 5, ReqPerSec: 220868.60, P50us: 264, P99us: 1020, Errors: 10}
	if r != want {
		t.Errorf("parseWrk = %+v, want %+v", r, want)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("parseWrk of a failed run: no error")
	}
}

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (a (b) c) S 17 4242 4242 0 -1 4194560 100 0 0 0 300 45 6 7 20 0 3 0 987654 1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	st, err := parseStat(4242, []byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != 17 || st.state != 'S' || st.cpu != 300+45+6+7 || st.start != 987654 {
		t.Errorf("parseStat = %+v", st)
	}
}

func TestTreeCountsThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	tr := tree(os.Getpid())
	if len(tr) == 0 || tr[0].pid != os.Getpid() {
		t.Fatalf("tree(self) = %+v", tr)
	}
	if rssKiB := treeRSSKiB(os.Getpid()); rssKiB <= 0 {
		t.Errorf("treeRSSKiB(self) = %d", rssKiB)
	}
}

func TestMedianOfRatios(t *testing.T) {
	r := &results{Settings: settings{Rounds: 3}}
	for i, v := range []float64{100, 300, 200} {
		r.Runs = append(r.Runs,
			runRecord{Pass: "unpinned", Round: i + 1, Server: nameRockstar, wrkResult: wrkResult{ReqPerSec: v}},
			runRecord{Pass: "unpinned", Round: i + 1, Server: nameNginx, wrkResult: wrkResult{ReqPerSec: 100}})
	}
	if got := r.ratio("unpinned", nameRockstar, nameNginx, reqPerSec); got != 2 {
		t.Errorf("median ratio = %v, want 2", got)
	}
}

func TestReportEndsWithRatioLine(t *testing.T) {
	r := &results{Settings: settings{Rounds: 1, Duration: time.Second, Threads: 1, Connections: 64, Pinned: true,
		Servers: serversFor(true)}}
	for _, n := range r.Settings.Servers {
		for _, pass := range []string{"unpinned", "pinned"} {
			r.Runs = append(r.Runs, runRecord{Pass: pass, Round: 1, Server: n,
				wrkResult: wrkResult{Requests: 1000, ReqPerSec: 1000, P50us: 100, P99us: 900}, CPUusPerReq: 5})
		}
	}
	r.summarize()
	dir := t.TempDir()
	if err := r.write(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"latest.json", "latest.png"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	var out strings.Builder
	r.print(&out)
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if last := lines[len(lines)-1]; last != "rockstar/nginx req/s ratio: 1.00  cpu/request ratio: 1.00" {
		t.Errorf("last line %q", last)
	}
	for _, n := range r.Settings.Servers {
		if !strings.Contains(out.String(), n+" ") {
			t.Errorf("no line for %s in\n%s", n, out.String())
		}
	}
}

func TestBusiestShare(t *testing.T) {
	master, w1, w2 := pidStart{1, 10}, pidStart{2, 20}, pidStart{3, 30}
	ms := func(m map[pidStart]int) map[pidStart]time.Duration {
		out := make(map[pidStart]time.Duration)
		for p, v := range m {
			out[p] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name          string
		before, after map[pidStart]int
		want          float64
	}{
		{"even", map[pidStart]int{master: 5, w1: 100, w2: 100}, map[pidStart]int{master: 5, w1: 600, w2: 600}, 0.5},
		{"one worker took all", map[pidStart]int{w1: 0, w2: 0}, map[pidStart]int{w1: 900, w2: 100}, 0.9},
		{"a worker born during the run counts from zero", map[pidStart]int{w1: 100}, map[pidStart]int{w1: 400, w2: 100}, 0.75},
		{"no CPU used", map[pidStart]int{w1: 100}, map[pidStart]int{w1: 100}, 0},
	}
	for _, tt := range tests {
		got := busiestShare(ms(tt.before), ms(tt.after))
		if got < tt.want-1e-9 || got > tt.want+1e-9 {
			t.Errorf("%s: busiestShare = %.3f, want %.3f", tt.name, got, tt.want)
		}
	}
}
