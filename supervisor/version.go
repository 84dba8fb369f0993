package supervisor

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// The build's stamps as a release build sets them with the linker; each
// one left empty falls back to what the Go toolchain recorded in the binary
// (runtime/debug.ReadBuildInfo):
//
//	go build -ldflags "-X github.com/rockstar-dev/rockstar/supervisor.version=v1.2.0 \
//	  -X github.com/rockstar-dev/rockstar/supervisor.revision=$(git rev-parse HEAD) \
//	  -X github.com/rockstar-dev/rockstar/supervisor.revisionTime=$(git log -1 --format=%cI) \
//	  -X github.com/rockstar-dev/rockstar/supervisor.modified=false" ./cmd/rockstar
//
// They are set at link time and never written at run time.
var (
	version      string // the module version; else the main module's version
	revision     string // the VCS revision; else the vcs.revision setting
	revisionTime string // the revision's commit time; else vcs.time
	modified     string // "true" or "false"; else vcs.modified
)

// BuildInfo is what this binary knows of its own build: `rockstar version`
// prints it, the control socket's version verb answers it, and Status
// carries its Version.
type BuildInfo struct {
	// Version is the module version: the linker's stamp, else the main
	// module's version as Go recorded it ("(devel)" for a build inside
	// the module's own tree, a pseudo-version for some VCS builds).
	Version string `json:"version"`
	// Revision is the VCS revision (a git commit hash); "" when unknown,
	// as for builds with -buildvcs=false or outside a repository.
	Revision string `json:"revision,omitempty"`
	// Time is the revision's commit time, RFC 3339; "" when unknown.
	Time string `json:"time,omitempty"`
	// Modified tells that the working tree had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// GoVersion is the Go release that built the binary; Platform its
	// GOOS/GOARCH.
	GoVersion string `json:"go"`
	Platform  string `json:"platform"`
}

// Build returns this binary's BuildInfo.
func Build() BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return buildInfo(bi, stamps{version, revision, revisionTime, modified})
}

// stamps are the linker's values; "" is unset.
type stamps struct{ version, revision, time, modified string }

// buildInfo merges the linker's stamps over bi (nil when the binary has
// no build information).
func buildInfo(bi *debug.BuildInfo, s stamps) BuildInfo {
	b := BuildInfo{GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	var mod string
	if bi != nil {
		b.Version = bi.Main.Version
		if bi.GoVersion != "" {
			b.GoVersion = bi.GoVersion
		}
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				b.Revision = kv.Value
			case "vcs.time":
				b.Time = kv.Value
			case "vcs.modified":
				mod = kv.Value
			}
		}
	}
	for _, o := range []struct {
		to   *string
		from string
	}{
		{&b.Version, s.version}, {&b.Revision, s.revision}, {&b.Time, s.time}, {&mod, s.modified},
	} {
		if o.from != "" {
			*o.to = o.from
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	b.Modified = mod == "true"
	return b
}

// Write prints b in the format of `rockstar version`, four lines:
//
//	rockstar VERSION
//	revision REVISION[ (modified)]     "unknown" when not recorded
//	time TIME                          the commit time, RFC 3339, or "unknown"
//	go GOVERSION GOOS/GOARCH
func (b BuildInfo) Write(w io.Writer) error {
	rev, t := orUnknown(b.Revision), orUnknown(b.Time)
	if b.Modified {
		rev += " (modified)"
	}
	_, err := fmt.Fprintf(w, "rockstar %s\nrevision %s\ntime %s\ngo %s %s\n", b.Version, rev, t, b.GoVersion, b.Platform)
	return err
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
