package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/pelletier/go-toml/v2"
	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/supervisor"
	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// runMaster is `rockstar run`: the master, in the foreground.
func (c *cli) runMaster(cfgFlag, format string) int {
	cfgPath, err := c.findConfig(cfgFlag)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	stderr := c.stderr
	if format == "" {
		format = "json"
		if f, ok := stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "console"
		}
	}
	var out io.Writer = stderr
	if format == "console" {
		out = zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.TimeOnly}
	}
	log := zerolog.New(out).With().Timestamp().Logger()
	m := supervisor.New(supervisor.Options{ConfigPath: cfgPath, Log: &log, LogFormat: format, WorkerOutput: stderr})
	if err := m.Run(); err != nil {
		var cerr *config.Error
		if _, joined := err.(interface{ Unwrap() []error }); joined || errors.As(err, &cerr) {
			printConfigError(stderr, err)
		} else {
			log.Error().Err(err).Msg("rockstar run")
		}
		return 1
	}
	return 0
}

// check is `rockstar check`: the config validated as `rockstar run` would.
func (c *cli) check(cfgFlag string) int {
	path, err := c.findConfig(cfgFlag)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	cfg, err := config.Load(path)
	if err != nil {
		printConfigError(c.stderr, err)
		return 1
	}
	fmt.Fprintf(c.stdout, "%s: ok (%d servers, %d hosts, %d tenants, %d workers)\n",
		cfg.Path, len(cfg.Servers), len(cfg.Hosts), len(cfg.Tenants), cfg.Supervisor.Workers)
	return 0
}

// printVersion is `rockstar version` without -c or -s: this binary's.
func (c *cli) printVersion() int {
	if err := supervisor.Build().Write(c.stdout); err != nil {
		fmt.Fprintln(c.stderr, "rockstar version:", err)
		return 1
	}
	return 0
}

// printConfigError prints each problem as file:line: field: problem.
// Only a top-level join is split: errors.As would also find the join inside
// one *config.Error (ErrSystem wraps its cause) and lose its file and line.
func printConfigError(w io.Writer, err error) {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			fmt.Fprintln(w, e)
		}
		return
	}
	fmt.Fprintln(w, err)
}

// controlSocket is -s, else the control_socket of the config found as
// `rockstar run` finds it, resolved against that file's directory.
func (c *cli) controlSocket(socket, cfgFlag string) (string, error) {
	if socket != "" {
		return socket, nil
	}
	path, err := c.findConfig(cfgFlag)
	if err != nil {
		return "", err
	}
	cfg, err := config.Load(path)
	if err != nil {
		// A config that no longer validates (say, edited before a reload
		// that is to report the mistake) still names the socket.
		if sock, ok := rawControlSocket(path); ok {
			return sock, nil
		}
		return "", fmt.Errorf("rockstar: find the control socket: %w", err)
	}
	return cfg.Supervisor.ControlSocket, nil
}

// rawControlSocket reads [supervisor] control_socket from the TOML file at
// path without validating the rest, resolved as config.Load resolves it.
func rawControlSocket(path string) (string, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	var doc struct {
		Supervisor struct {
			ControlSocket string `toml:"control_socket"`
		} `toml:"supervisor"`
	}
	if toml.Unmarshal(data, &doc) != nil {
		return "", false
	}
	sock := doc.Supervisor.ControlSocket
	if sock == "" {
		sock = config.DefaultControlSocket
	}
	if !filepath.IsAbs(sock) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", false
		}
		sock = filepath.Join(filepath.Dir(abs), sock)
	}
	return filepath.Clean(sock), true
}

// control sends verb to the master and prints its answer.
func (c *cli) control(verb, cfgFlag, socket string, graceful bool) int {
	sock, err := c.controlSocket(socket, cfgFlag)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var body any
	if verb == supervisor.VerbStop {
		body = map[string]bool{"graceful": graceful}
	}
	reply, err := supervisor.Request(ctx, sock, verb, body)
	if err != nil {
		fmt.Fprintf(c.stderr, "rockstar %s: %v\n", verb, err)
		return 1
	}
	switch verb {
	case supervisor.VerbStatus:
		var st supervisor.Status
		if err := json.Unmarshal(reply.Body, &st); err != nil {
			fmt.Fprintln(c.stderr, "rockstar status:", err)
			return 1
		}
		printStatus(c.stdout, st)
	case supervisor.VerbReload:
		fmt.Fprintln(c.stdout, "reload: ok")
	case supervisor.VerbStop:
		fmt.Fprintln(c.stdout, "stop: requested")
	case supervisor.VerbVersion:
		// An older master answers only {"version"}: the rest is unknown.
		var b supervisor.BuildInfo
		if err := json.Unmarshal(reply.Body, &b); err != nil {
			fmt.Fprintln(c.stderr, "rockstar version:", err)
			return 1
		}
		_ = b.Write(c.stdout)
	}
	return 0
}

func printStatus(w io.Writer, st supervisor.Status) {
	fmt.Fprintf(w, "master pid %d  generation %d  uptime %s  version %s\n",
		st.PID, st.Generation, time.Duration(st.Uptime*float64(time.Second)).Round(time.Second), st.Version)
	fmt.Fprintf(w, "config %s\nlisteners %v\nrestarts %d  reloads ok %d failed %d\n\n",
		st.Config, st.Listeners, st.Restarts, st.Reloads["success"], st.Reloads["failure"])
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tPID\tSTATE\tUPTIME\tRESTARTS\tREQUESTS\tACTIVE\tLAST HEALTH")
	rows := func(ws []supervisor.WorkerStatus) {
		for _, x := range ws {
			health := "never"
			if x.LastHealth >= 0 {
				health = fmt.Sprintf("%.1fs ago", x.LastHealth)
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d\t%d\t%d\t%s\n", x.Slot, x.PID, x.State,
				time.Duration(x.Uptime*float64(time.Second)).Round(time.Second), x.Restarts, x.Requests, x.Active, health)
		}
	}
	rows(st.Workers)
	rows(st.Draining)
	tw.Flush()
}
