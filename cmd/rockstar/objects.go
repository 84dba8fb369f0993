package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rockstar-dev/rockstar/supervisor"
	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// objectActions are the actions of `rockstar host` and `rockstar tenant`.
func objectActions() []string { return []string{"add", "set", "rm", "ls"} }

// objectFlags are the flags of `rockstar host` and `rockstar tenant`: each
// sets one key of the object's table; -f gives a whole JSON object.
type objectFlags struct {
	cfg, sock, file *string
	// set are the keys the flags given set, as JSON values.
	set func() map[string]any
}

// hostSetup is `rockstar host add|set|rm|ls [NAME]`.
func hostSetup(c *cli, fs *flag.FlagSet) func([]string) int {
	f := objectFlags{cfg: configFlag(fs), sock: socketFlag(fs),
		file: fs.String("f", "", "read the host's table from `FILE`, a JSON object with the keys of [[host]]")}
	tenant := fs.String("tenant", "", "the host's tenant `ID`")
	respond := fs.String("respond", "", "answer every request with `TEXT`")
	status := fs.Int("status", 0, "the `STATUS` of --respond's answers")
	root := fs.String("root", "", "serve the static files of `DIR`")
	proxy := fs.String("proxy", "", "proxy to `ADDRS`, host:port[,host:port...]")
	f.set = func() map[string]any {
		m := map[string]any{}
		fs.Visit(func(fl *flag.Flag) {
			switch fl.Name {
			case "tenant":
				m["tenant"] = *tenant
			case "respond":
				m["respond"] = *respond
			case "status":
				m["respond_status"] = *status
			case "root":
				m["root"] = *root
			case "proxy":
				m["proxy"] = map[string]any{"upstreams": strings.Split(*proxy, ",")}
			}
		})
		return m
	}
	return func(args []string) int { return c.objects(config.KindHost, f, args) }
}

// tenantSetup is `rockstar tenant add|set|rm|ls [ID]`.
func tenantSetup(c *cli, fs *flag.FlagSet) func([]string) int {
	f := objectFlags{cfg: configFlag(fs), sock: socketFlag(fs),
		file: fs.String("f", "", "read the tenant's table from `FILE`, a JSON object with the keys of [[tenant]]")}
	hosts := fs.String("hosts", "", "the tenant's `HOSTS`, name[,name...]")
	rps := fs.Float64("rps", 0, "a rate limit of `N` requests per second for all the tenant's hosts")
	burst := fs.Int("burst", 0, "the rate limit's `BURST`, with --rps")
	f.set = func() map[string]any {
		m := map[string]any{}
		fs.Visit(func(fl *flag.Flag) {
			switch fl.Name {
			case "hosts":
				m["hosts"] = strings.Split(*hosts, ",")
			case "rps":
				m["rate_limit"] = map[string]any{"requests_per_second": *rps, "burst": *burst}
			}
		})
		return m
	}
	return func(args []string) int { return c.objects(config.KindTenant, f, args) }
}

// objects runs one action of `rockstar host` or `rockstar tenant` through
// the control socket's runtime API.
func (c *cli) objects(kind string, f objectFlags, args []string) int {
	if len(args) == 0 || !slices.Contains(objectActions(), args[0]) {
		fmt.Fprintf(c.stderr, "rockstar %s: want one of %s\n", kind, strings.Join(objectActions(), ", "))
		return 2
	}
	action := args[0]
	name := ""
	if len(args) > 1 {
		name = args[1]
	}
	if name == "" && action != "ls" {
		fmt.Fprintf(c.stderr, "rockstar %s %s: the %s's name is required\n", kind, action, kind)
		return 2
	}
	sock, err := c.controlSocket(*f.sock, *f.cfg)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	coll := "/v1/" + kind + "s"
	call := func(req supervisor.APIRequest) (supervisor.APIResponse, bool) {
		r, err := supervisor.Request(ctx, sock, supervisor.VerbAPI, req)
		var resp supervisor.APIResponse
		if err == nil {
			err = json.Unmarshal(r.Body, &resp)
		}
		if err != nil {
			fmt.Fprintf(c.stderr, "rockstar %s %s: %v\n", kind, action, err)
			return resp, false
		}
		if resp.Status >= 300 {
			var ae supervisor.APIError
			_ = json.Unmarshal(resp.Body, &ae)
			fmt.Fprintf(c.stderr, "rockstar %s %s: %d %s: %s\n", kind, action, resp.Status, http.StatusText(resp.Status), ae.Error)
			for _, p := range ae.Problems[min(1, len(ae.Problems)):] {
				fmt.Fprintf(c.stderr, "  %s: %s: %s\n", p.Object, p.Field, p.Problem)
			}
			return resp, false
		}
		return resp, true
	}
	switch action {
	case "ls":
		path := coll
		if name != "" {
			path += "/" + name
		}
		resp, ok := call(supervisor.APIRequest{Method: http.MethodGet, Path: path})
		if !ok {
			return 1
		}
		if name != "" {
			fmt.Fprintf(c.stdout, "%s\n", indentJSON(resp.Body))
			return 0
		}
		var objs []map[string]any
		_ = json.Unmarshal(resp.Body, &objs)
		printObjects(c.stdout, kind, objs)
		return 0
	case "rm":
		if _, ok := call(supervisor.APIRequest{Method: http.MethodDelete, Path: coll + "/" + name}); !ok {
			return 1
		}
		fmt.Fprintf(c.stdout, "%s rm %s: ok\n", kind, name)
		return 0
	}
	obj := map[string]any{}
	req := supervisor.APIRequest{Method: http.MethodPut, Path: coll + "/" + name}
	switch {
	case *f.file != "":
		b, err := os.ReadFile(*f.file)
		if err == nil {
			err = json.Unmarshal(b, &obj)
		}
		if err != nil {
			fmt.Fprintf(c.stderr, "rockstar %s %s: -f: %v\n", kind, action, err)
			return 1
		}
	case action == "set": // the flags change the current object
		cur, ok := call(supervisor.APIRequest{Method: http.MethodGet, Path: coll + "/" + name})
		if !ok {
			return 1
		}
		_ = json.Unmarshal(cur.Body, &obj)
		req.IfMatch = cur.ETag
	}
	if action == "add" {
		req.IfNoneMatch = "*"
	}
	for k, v := range f.set() {
		obj[k] = v
	}
	body, _ := json.Marshal(obj)
	req.Body = string(body)
	resp, ok := call(req)
	if !ok {
		return 1
	}
	fmt.Fprintf(c.stdout, "%s %s %s: ok (etag %s)\n", kind, action, name, resp.ETag)
	return 0
}

func indentJSON(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	return string(out)
}

// printObjects lists hosts (name, tenant, what they serve) or tenants
// (id, hosts).
func printObjects(w io.Writer, kind string, objs []map[string]any) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if kind == config.KindTenant {
		fmt.Fprintln(tw, "ID\tHOSTS")
		for _, o := range objs {
			fmt.Fprintf(tw, "%v\t%v\n", o["id"], o["hosts"])
		}
	} else {
		fmt.Fprintln(tw, "HOSTNAME\tTENANT\tSERVES")
		for _, o := range objs {
			serves := "routes"
			for _, k := range []string{"respond", "root", "proxy"} {
				if _, ok := o[k]; ok {
					serves = k
				}
			}
			tenant, _ := o["tenant"].(string)
			fmt.Fprintf(tw, "%v\t%s\t%s\n", o["hostname"], tenant, serves)
		}
	}
	tw.Flush()
}
