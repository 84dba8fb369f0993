// Command rockstar runs the Rockstar web server: a prefork master with one
// worker process per CPU, and the CLI that controls it.
//
//	rockstar run [-c FILE] [--log-format console|json]
//	rockstar check -c FILE
//	rockstar status|reload|version [-c FILE | -s SOCKET]
//	rockstar stop [--graceful] [-c FILE | -s SOCKET]
//	rockstar cert -hosts a.test,b.test [-out DIR]
//
// One binary is both processes: started by a master as a worker, it runs
// package supervisor/child (child.IsWorker, child.Run) and nothing else;
// otherwise it is the CLI, and `rockstar run` the master (package
// supervisor). main.go has the verbs, cert.go the development
// certificate.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
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
	"github.com/rockstar-dev/rockstar/supervisor/child"
	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// defaultConfig is the bundled example, so `rockstar run` works on a fresh clone.
const defaultConfig = "examples/rockstar.toml"

func main() {
	if child.IsWorker() {
		os.Exit(child.Run(os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: rockstar COMMAND [flags]

commands:
  run      run the server in the foreground (default config: `+defaultConfig+`)
  check    validate a config file, like nginx -t
  status   show the master and its workers
  reload   reload the config and wait for the result
  stop     stop the server (--graceful to drain first)
  version  print the version
  cert     write a self-signed development certificate pair (-hosts, -out)
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmd, args := args[0], args[1:]
	if cmd == "cert" {
		return certCommand(args, stdout, stderr)
	}
	fs := flag.NewFlagSet("rockstar "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "config file")
	socket := fs.String("s", "", "control socket (default: the config's control_socket)")
	logFormat := fs.String("log-format", "", "console or json (default: console on a terminal)")
	graceful := fs.Bool("graceful", false, "stop: let in-flight requests finish first")
	switch cmd {
	case "run", "check", "status", "reload", "stop", "version":
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "rockstar: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch cmd {
	case "run":
		return runMaster(orDefault(*cfgPath), *logFormat, stderr)
	case "check":
		cfg, err := config.Load(orDefault(*cfgPath))
		if err != nil {
			printConfigError(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: ok (%d servers, %d hosts, %d tenants, %d workers)\n",
			cfg.Path, len(cfg.Servers), len(cfg.Hosts), len(cfg.Tenants), cfg.Supervisor.Workers)
		return 0
	case "version":
		if *cfgPath == "" && *socket == "" {
			fmt.Fprintln(stdout, "rockstar", supervisor.Version)
			return 0
		}
	}
	sock, err := controlSocket(*socket, *cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "rockstar:", err)
		return 1
	}
	return control(cmd, sock, *graceful, stdout, stderr)
}

func orDefault(path string) string {
	if path == "" {
		return defaultConfig
	}
	return path
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

func controlSocket(socket, cfgPath string) (string, error) {
	if socket != "" {
		return socket, nil
	}
	path := orDefault(cfgPath)
	cfg, err := config.Load(path)
	if err != nil {
		// A config that no longer validates (say, edited before a reload
		// that is to report the mistake) still names the socket.
		if sock, ok := rawControlSocket(path); ok {
			return sock, nil
		}
		return "", fmt.Errorf("find the control socket: %w", err)
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

func runMaster(cfgPath, format string, stderr io.Writer) int {
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

func control(verb, socket string, graceful bool, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var body any
	if verb == "stop" {
		body = map[string]bool{"graceful": graceful}
	}
	reply, err := supervisor.Request(ctx, socket, verb, body)
	if err != nil {
		fmt.Fprintf(stderr, "rockstar %s: %v\n", verb, err)
		return 1
	}
	switch verb {
	case "status":
		var st supervisor.Status
		if err := json.Unmarshal(reply.Body, &st); err != nil {
			fmt.Fprintln(stderr, "rockstar status:", err)
			return 1
		}
		printStatus(stdout, st)
	case "reload":
		fmt.Fprintln(stdout, "reload: ok")
	case "stop":
		fmt.Fprintln(stdout, "stop: requested")
	case "version":
		var v map[string]string
		_ = json.Unmarshal(reply.Body, &v)
		fmt.Fprintln(stdout, "rockstar", v["version"])
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
