package config

import (
	"strings"
	"testing"
)

const diffBase = `[supervisor]
workers = 2
[log]
level = "info"
[admin]
listen = "127.0.0.1:9090"
[[server]]
listen = ":8080"
[[host]]
hostname = "a.test"
respond = "a"
[[tenant]]
id = "t"
hosts = ["a.test"]
`

func TestDiff(t *testing.T) {
	old := mustParse(t, diffBase)
	for _, tc := range []struct {
		name  string
		edits []string // old, new pairs applied to diffBase
		want  Change
	}{
		{"nothing", nil, Change{}},
		{"comment only", []string{"[log]", "# hi\n[log]"}, Change{}},
		{"respond body", []string{`respond = "a"`, `respond = "b"`}, Change{Hosts: true}},
		{"host rate limit", []string{`respond = "a"`, "respond = \"a\"\nrate_limit = { requests_per_second = 5 }"}, Change{Hosts: true}},
		{"new host", []string{"[[tenant]]", "[[host]]\nhostname = \"b.test\"\n[[tenant]]"}, Change{Hosts: true}},
		{"tenant limit", []string{`hosts = ["a.test"]`, "hosts = [\"a.test\"]\nrate_limit = { requests_per_second = 5 }"}, Change{Hosts: true}},
		{"listen address", []string{`listen = ":8080"`, `listen = ":8081"`}, Change{Listeners: true}},
		{"server timeout", []string{`listen = ":8080"`, "listen = \":8080\"\nread_timeout = \"5s\""}, Change{Listeners: true}},
		{"second server", []string{"[[host]]", "[[server]]\nlisten = \":9000\"\n[[host]]"}, Change{Listeners: true}},
		{"worker count", []string{"workers = 2", "workers = 3"}, Change{Workers: true}},
		{"worker user", []string{"workers = 2", "workers = 2\nuser = \"nobody\""}, Change{Workers: true}},
		{"log level", []string{`level = "info"`, `level = "debug"`}, Change{Log: true}},
		{"admin address", []string{`listen = "127.0.0.1:9090"`, `listen = "127.0.0.1:9091"`}, Change{Master: true}},
		{"admin hosts", []string{`listen = "127.0.0.1:9090"`, "listen = \"127.0.0.1:9090\"\nhosts = [\"status.test\"]"}, Change{Master: true}},
		{"shutdown timeout", []string{"workers = 2", "workers = 2\nshutdown_timeout = \"5s\""}, Change{Master: true}},
		{"workers and hosts", []string{"workers = 2", "workers = 4", `respond = "a"`, `respond = "z"`}, Change{Workers: true, Hosts: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := diffBase
			for i := 0; i < len(tc.edits); i += 2 {
				doc = strings.Replace(doc, tc.edits[i], tc.edits[i+1], 1)
			}
			got := Diff(old, mustParse(t, doc))
			if got != tc.want {
				t.Errorf("Diff = %+v, want %+v", got, tc.want)
			}
			if got.NewGeneration() != (tc.want.Listeners || tc.want.Workers || tc.want.Log) || got.Any() != (tc.want != Change{}) {
				t.Errorf("NewGeneration %v Any %v for %+v", got.NewGeneration(), got.Any(), got)
			}
		})
	}
}
