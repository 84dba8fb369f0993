// Package testhttp is the one HTTP client the examples' tests share: one
// request on a fresh connection, with a Host header of the test's choice.
package testhttp

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// Response is what a request got back.
type Response struct {
	Code   int
	Header http.Header
	Body   string
}

var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// Do sends method to url with Host host ("" keeps the URL's) and fails the
// test if no response comes back.
func Do(t testing.TB, method, url, host string) Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %q): %v", method, url, host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Response{Code: resp.StatusCode, Header: resp.Header, Body: string(b)}
}
