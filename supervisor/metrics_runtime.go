package supervisor

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/procfs"
)

// The master's own runtime and process series (go_*, process_*, from
// client_golang's collectors), the build, and each worker process's
// resident memory, read from /proc at scrape time. (No per-worker
// counters: a restarted worker's would go down, and rockstar_* counters
// never do.)

var (
	descBuildInfo = prometheus.NewDesc("rockstar_build_info",
		"The running binary: its version, VCS revision and Go version; always 1.",
		[]string{"version", "revision", "goversion"}, nil)
	descWorkerRSS = prometheus.NewDesc("rockstar_worker_resident_memory_bytes",
		"Resident memory of each worker process, by slot and generation.",
		[]string{"slot", "generation"}, nil)
)

// runtimeCollectors are the standard Go and process collectors of the
// master.
func runtimeCollectors() []prometheus.Collector {
	return []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
}

// buildLabels are rockstar_build_info's labels, from Build: the version;
// the VCS revision ("unknown" without one, "-dirty" appended for a
// modified tree); and the Go release.
func buildLabels() [3]string {
	b := Build()
	revision := b.Revision
	switch {
	case revision == "":
		revision = "unknown"
	case b.Modified:
		revision += "-dirty"
	}
	return [3]string{b.Version, revision, b.GoVersion}
}

// collectWorkerProcs emits the resident memory of every
// running worker; one whose /proc entry is gone (it just exited) is left
// out.
func collectWorkerProcs(ch chan<- prometheus.Metric, workers []WorkerStatus) {
	for _, w := range workers {
		if w.PID <= 0 || w.State == StateExited {
			continue
		}
		p, err := procfs.NewProc(w.PID)
		if err != nil {
			continue
		}
		st, err := p.Stat()
		if err != nil {
			continue
		}
		slot, gen := strconv.Itoa(w.Slot), strconv.Itoa(w.Generation)
		ch <- prometheus.MustNewConstMetric(descWorkerRSS, prometheus.GaugeValue, float64(st.ResidentMemory()), slot, gen)
	}
}
