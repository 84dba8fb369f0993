package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// results is everything one run of the program found; it is written as
// JSON as it is.
type results struct {
	Started       time.Time      `json:"started"`
	Settings      settings       `json:"settings"`
	Machine       machine        `json:"machine"`
	NofileLimit   uint64         `json:"nofile_limit"`
	Runs          []runRecord    `json:"runs"`
	Unpinned      []serverStats  `json:"unpinned"`
	Pinned        []serverStats  `json:"pinned,omitempty"`
	Ratios        ratios         `json:"ratios"`
	MetricsSample *metricsSample `json:"metrics_sample,omitempty"`
	Extras        extraFigures   `json:"extras"`
}

type machine struct {
	NProc      int    `json:"nproc"`
	CPU        string `json:"cpu"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`
	Nginx      string `json:"nginx"`
	LoadBefore string `json:"loadavg_before"`
	LoadAfter  string `json:"loadavg_after"`
}

// runRecord is one wrk run against one server.
type runRecord struct {
	Pass   string `json:"pass"`
	Round  int    `json:"round"`
	Server string `json:"server"`
	wrkResult
	// CPUus is the CPU time of the server's whole process tree during the
	// run, children included.
	CPUus       float64 `json:"server_cpu_us"`
	CPUusPerReq float64 `json:"server_cpu_us_per_request"`
	// Busiest is the share of that CPU time its busiest process used
	// (busiestShare).
	Busiest float64 `json:"busiest_process_cpu_share"`
}

// serverStats is one server's medians over the rounds of a pass, and its
// ratios to the reference (nginx unpinned, bare fasthttp pinned): the
// median of the per-round ratios.
type serverStats struct {
	Server      string  `json:"server"`
	ReqPerSec   float64 `json:"req_per_sec"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
	Errors      int64   `json:"errors"`
	CPUusPerReq float64 `json:"server_cpu_us_per_request"`
	ReqRatio    float64 `json:"req_per_sec_ratio"`
	CPURatio    float64 `json:"cpu_per_request_ratio"`
	P99Ratio    float64 `json:"p99_ratio"`
	// Busiest: the busiest process's share of the server's CPU time,
	// lowest and highest over the rounds.
	BusiestMin float64 `json:"busiest_process_cpu_share_min"`
	BusiestMax float64 `json:"busiest_process_cpu_share_max"`
}

// ratios are the headline figures, each the median of per-round ratios.
type ratios struct {
	RockstarNginxReq      float64 `json:"rockstar_nginx_req_per_sec"`
	RockstarNginxCPU      float64 `json:"rockstar_nginx_cpu_per_request"`
	RockstarPreforkReq    float64 `json:"rockstar_fasthttp_prefork_req_per_sec"`
	RockstarPreforkCPU    float64 `json:"rockstar_fasthttp_prefork_cpu_per_request"`
	RockstarFasthttpReq   float64 `json:"rockstar_fasthttp_req_per_sec"`
	PinnedP99RockstarBare float64 `json:"pinned_p99_rockstar_fasthttp"`
}

// find returns the run of server in pass and round.
func (r *results) find(pass string, round int, server string) *runRecord {
	for i := range r.Runs {
		x := &r.Runs[i]
		if x.Pass == pass && x.Round == round && x.Server == server {
			return x
		}
	}
	return nil
}

// ratio is the median over the rounds of pass of f(a)/f(b).
func (r *results) ratio(pass, a, b string, f func(*runRecord) float64) float64 {
	var xs []float64
	for round := 1; round <= r.Settings.Rounds; round++ {
		x, y := r.find(pass, round, a), r.find(pass, round, b)
		if x != nil && y != nil && f(y) > 0 {
			xs = append(xs, f(x)/f(y))
		}
	}
	return median(xs)
}

func reqPerSec(x *runRecord) float64 { return x.ReqPerSec }
func cpuPerReq(x *runRecord) float64 { return x.CPUusPerReq }
func p99(x *runRecord) float64       { return x.P99us }

func (r *results) stats(pass, ref string) []serverStats {
	var out []serverStats
	for _, name := range r.Settings.Servers {
		var rps, p50, p99s, cpu []float64
		var errs int64
		lo, hi := 1.0, 0.0
		for _, x := range r.Runs {
			if x.Pass == pass && x.Server == name {
				rps = append(rps, x.ReqPerSec)
				p50 = append(p50, x.P50us)
				p99s = append(p99s, x.P99us)
				cpu = append(cpu, x.CPUusPerReq)
				errs += x.Errors
				lo, hi = min(lo, x.Busiest), max(hi, x.Busiest)
			}
		}
		if len(rps) == 0 {
			continue
		}
		out = append(out, serverStats{
			Server: name, ReqPerSec: median(rps), P50us: median(p50), P99us: median(p99s),
			Errors: errs, CPUusPerReq: median(cpu),
			ReqRatio:   r.ratio(pass, name, ref, reqPerSec),
			CPURatio:   r.ratio(pass, name, ref, cpuPerReq),
			P99Ratio:   r.ratio(pass, name, ref, p99),
			BusiestMin: lo, BusiestMax: hi,
		})
	}
	return out
}

func (r *results) summarize() {
	r.Unpinned = r.stats("unpinned", nameNginx)
	r.Pinned = r.stats("pinned", nameFasthttp)
	r.Ratios = ratios{
		RockstarNginxReq:      r.ratio("unpinned", nameRockstar, nameNginx, reqPerSec),
		RockstarNginxCPU:      r.ratio("unpinned", nameRockstar, nameNginx, cpuPerReq),
		RockstarPreforkReq:    r.ratio("unpinned", nameRockstar, namePrefork, reqPerSec),
		RockstarPreforkCPU:    r.ratio("unpinned", nameRockstar, namePrefork, cpuPerReq),
		RockstarFasthttpReq:   r.ratio("unpinned", nameRockstar, nameFasthttp, reqPerSec),
		PinnedP99RockstarBare: r.ratio("pinned", nameRockstar, nameFasthttp, p99),
	}
}

// write saves latest.json and latest.png in dir.
func (r *results) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	jsonPath := filepath.Join(dir, "latest.json")
	if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
		return err
	}
	pngPath := filepath.Join(dir, "latest.png")
	if err := r.chart(pngPath); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	mdPath := filepath.Join(dir, "latest.md")
	var md strings.Builder
	r.markdown(&md)
	if err := os.WriteFile(mdPath, []byte(md.String()), 0o644); err != nil {
		return err
	}
	logf("wrote %s, %s and %s", jsonPath, pngPath, mdPath)
	return nil
}

// markdown writes the tables as Markdown, for bench/RESULTS.md.
func (r *results) markdown(out io.Writer) {
	s, m := r.Settings, r.Machine
	fmt.Fprintf(out, "Run %s: %d CPUs (%s), %s, %s, %s; load average %s before, %s after.\n",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), m.NProc, m.CPU, m.Kernel, m.GoVersion, m.Nginx, m.LoadBefore, m.LoadAfter)
	fmt.Fprintf(out, "wrk -t%d -c%d -d%s --latency, %d rounds in alternation; medians, and medians of per-round ratios.\n\n",
		s.Threads, s.Connections, s.Duration, s.Rounds)
	fmt.Fprintln(out, "| server | req/s | × nginx | p50 | p99 | errors | server CPU µs/request | × nginx | busiest process |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, x := range r.Unpinned {
		fmt.Fprintf(out, "| %s | %.0f | %.2f | %s | %s | %d | %.2f | %.2f | %s |\n",
			x.Server, x.ReqPerSec, x.ReqRatio, us(x.P50us), us(x.P99us), x.Errors, x.CPUusPerReq, x.CPURatio, x.busiest())
	}
	fmt.Fprintf(out, "\nRockstar / fasthttp's prefork: %.2f req/s, %.2f CPU per request; Rockstar / bare fasthttp: %.2f req/s.\n",
		r.Ratios.RockstarPreforkReq, r.Ratios.RockstarPreforkCPU, r.Ratios.RockstarFasthttpReq)
	if len(r.Pinned) > 0 {
		fmt.Fprint(out, "\nPinned (servers on CPU 0, Rockstar and nginx with one worker; wrk on CPU 1):\n\n")
		fmt.Fprintln(out, "| server | p99 | × fasthttp |")
		fmt.Fprintln(out, "|---|---:|---:|")
		for _, x := range r.Pinned {
			fmt.Fprintf(out, "| %s | %s | %.2f |\n", x.Server, us(x.P99us), x.P99Ratio)
		}
	}
	if s.Extras {
		x := r.Extras
		fmt.Fprintln(out, "\n| Rockstar alone | |\n|---|---|")
		fmt.Fprintf(out, "| idle worker resident memory (VmRSS) | %s KiB (master %d KiB) |\n", joinInts(x.IdleWorkerRSSKiB), x.IdleMasterRSSKiB)
		if c := x.Conns; c != nil {
			fmt.Fprintf(out, "| memory per idle keep-alive connection (%d open) | %.1f KiB |\n", c.Opened, c.PerConnKiB)
		}
		if c := x.NginxConns; c != nil {
			fmt.Fprintf(out, "| the same for nginx, for scale (%d open) | %.1f KiB |\n", c.Opened, c.PerConnKiB)
		}
		fmt.Fprintf(out, "| `rockstar run` to ready (median of %d) | %.0f ms |\n", len(x.StartupMs), x.StartupMedianMs)
		if rl := x.Reload; rl != nil {
			fmt.Fprintf(out, "| HUP config push with %d hosts, to \"reloaded\" (median of %d) | %.0f ms |\n", rl.Hosts, len(rl.HUPms), rl.HUPMedianMs)
		}
	}
	fmt.Fprintf(out, "\n`rockstar/nginx req/s ratio: %.2f  cpu/request ratio: %.2f`\n", r.Ratios.RockstarNginxReq, r.Ratios.RockstarNginxCPU)
}

// chart draws three bar charts side by side, one bar per server: k req/s
// and server CPU µs per request (unpinned medians), and p99 pinned.
func (r *results) chart(path string) error {
	type panel struct {
		title, y, format string
		stats            []serverStats
		value            func(serverStats) float64
	}
	panels := []panel{
		{"requests per second (unpinned)", "k req/s", "%.1f", r.Unpinned, func(s serverStats) float64 { return s.ReqPerSec / 1000 }},
		{"server CPU per request (unpinned)", "µs", "%.2f", r.Unpinned, func(s serverStats) float64 { return s.CPUusPerReq }},
	}
	if len(r.Pinned) > 0 {
		panels = append(panels, panel{"p99 latency (pinned)", "ms", "%.2f", r.Pinned, func(s serverStats) float64 { return s.P99us / 1000 }})
	}
	row := make([]*plot.Plot, len(panels))
	for i, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.Y.Label.Text = pn.y
		names := make([]string, len(pn.stats))
		var labels plotter.XYLabels
		for j, st := range pn.stats {
			v := pn.value(st)
			names[j] = strings.Replace(st.Server, "fasthttp-", "fasthttp\n", 1)
			bars, err := plotter.NewBarChart(plotter.Values{v}, vg.Points(30))
			if err != nil {
				return err
			}
			bars.XMin = float64(j)
			bars.LineStyle.Width = 0
			bars.Color = serverColor(st.Server)
			p.Add(bars)
			labels.XYs = append(labels.XYs, plotter.XY{X: float64(j), Y: v})
			labels.Labels = append(labels.Labels, fmt.Sprintf(pn.format, v))
		}
		l, err := plotter.NewLabels(labels)
		if err != nil {
			return err
		}
		for i := range l.TextStyle {
			l.TextStyle[i].XAlign = draw.XCenter
			l.TextStyle[i].YAlign = draw.YBottom
		}
		p.Add(l)
		p.NominalX(names...)
		p.Y.Min = 0
		p.Y.Max *= 1.12 // room for the labels
		row[i] = p
	}
	const w, h = 330, 300
	img := vgimg.New(vg.Points(float64(w*len(panels))), vg.Points(h))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Points(12), PadY: vg.Points(8),
		PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(6)}
	canvases := plot.Align([][]*plot.Plot{row}, tiles, dc)
	for i, p := range row {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// serverColor is Rockstar's orange, nginx's green, and greys for fasthttp.
func serverColor(name string) color.Color {
	switch name {
	case nameRockstar:
		return color.RGBA{R: 0xe8, G: 0x6a, B: 0x17, A: 0xff}
	case nameNginx:
		return color.RGBA{R: 0x00, G: 0x96, B: 0x39, A: 0xff}
	case nameNginxReuse:
		return color.RGBA{R: 0x7c, G: 0xc8, B: 0x8f, A: 0xff}
	case nameFasthttp:
		return color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}
	}
	return color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
}

// print writes the tables and, last, the ratio line.
func (r *results) print(out io.Writer) {
	s := r.Settings
	fmt.Fprintf(out, "\nwrk -t%d -c%d -d%s --latency, %d rounds, no pinning; medians; ratios are medians of per-round ratios to nginx\n",
		s.Threads, s.Connections, s.Duration, s.Rounds)
	fmt.Fprintf(out, "machine: %d CPUs, %s, %s; load average %s before, %s after\n\n",
		r.Machine.NProc, r.Machine.Kernel, r.Machine.GoVersion, r.Machine.LoadBefore, r.Machine.LoadAfter)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\treq/s\t× nginx\tp50\tp99\terrors\tCPU µs/req\t× nginx\tbusiest process\t")
	for _, x := range r.Unpinned {
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%s\t%s\t%d\t%.2f\t%.2f\t%s\t\n",
			x.Server, x.ReqPerSec, x.ReqRatio, us(x.P50us), us(x.P99us), x.Errors, x.CPUusPerReq, x.CPURatio, x.busiest())
	}
	tw.Flush()
	fmt.Fprintf(out, "\nrockstar/fasthttp-prefork req/s ratio: %.2f  cpu/request ratio: %.2f\n",
		r.Ratios.RockstarPreforkReq, r.Ratios.RockstarPreforkCPU)
	fmt.Fprintf(out, "rockstar/fasthttp req/s ratio: %.2f\n", r.Ratios.RockstarFasthttpReq)

	if len(r.Pinned) > 0 {
		fmt.Fprintf(out, "\npinned: servers on CPU 0 (rockstar and nginx with one worker), wrk on CPU 1\n\n")
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "server\tp99\t× fasthttp\t")
		for _, x := range r.Pinned {
			fmt.Fprintf(tw, "%s\t%s\t%.2f\t\n", x.Server, us(x.P99us), x.P99Ratio)
		}
		tw.Flush()
	}

	if s.Extras {
		x := r.Extras
		fmt.Fprintf(out, "\nrockstar alone:\n")
		fmt.Fprintf(out, "  idle worker resident memory (VmRSS): %s KiB (master %d KiB)\n", joinInts(x.IdleWorkerRSSKiB), x.IdleMasterRSSKiB)
		for _, c := range []struct {
			name string
			f    *connFigures
		}{{"rockstar", x.Conns}, {"nginx", x.NginxConns}} {
			if c.f != nil {
				fmt.Fprintf(out, "  %s: %d idle keep-alive connections: %.1f KiB each (tree RSS %d -> %d KiB; opened in %.1fs)\n",
					c.name, c.f.Opened, c.f.PerConnKiB, c.f.RSSBefore, c.f.RSSAfter, c.f.OpenSeconds)
			}
		}
		fmt.Fprintf(out, "  rockstar run to ready: median %.0f ms of %d starts\n", x.StartupMedianMs, len(x.StartupMs))
		if x.Reload != nil {
			fmt.Fprintf(out, "  HUP config push with %d hosts: median %.0f ms to \"reloaded\" (%s ms); change served: %v; startup with them %.0f ms\n",
				x.Reload.Hosts, x.Reload.HUPMedianMs, joinFloats(x.Reload.HUPms), x.Reload.ChangeVerified, x.Reload.StartupMs)
		}
	}
	if m := r.MetricsSample; m != nil {
		fmt.Fprintf(out, "\nrockstar metrics on: workers counted %d requests; /metrics answered %d (%d bytes)\n",
			m.WorkerRequests, m.MetricsStatus, m.MetricsBytes)
	}
	fmt.Fprintf(out, "\nrockstar/nginx req/s ratio: %.2f  cpu/request ratio: %.2f\n", r.Ratios.RockstarNginxReq, r.Ratios.RockstarNginxCPU)
}

// busiest is the range of the busiest process's CPU share over the rounds,
// as percentages.
func (x serverStats) busiest() string {
	lo, hi := int(100*x.BusiestMin+0.5), int(100*x.BusiestMax+0.5)
	if lo == hi {
		return fmt.Sprintf("%d%%", lo)
	}
	return fmt.Sprintf("%d-%d%%", lo, hi)
}

func joinInts(xs []int64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

func joinFloats(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(s, ", ")
}
