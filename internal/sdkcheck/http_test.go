package sdkcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pushagent/pushagent/agent/wasmhost"
	"github.com/pushagent/pushagent/internal/plugintest"
	"github.com/pushagent/pushagent/internal/testenv"
	"github.com/pushagent/pushagent/sdk/abi"
)

const httpPluginPkg = "./internal/sdkcheck/testdata/httpplugin"

// TestHTTPCall runs a plugin that uses sdk/httpcall twice: as a reactor
// through the agent's host with an allow-list, and natively with net/http.
// Both must see the same responses: status and reason, headers (canonical,
// repeated), body, the URL after a redirect, TLS version and certificate
// expiry. Then the failures only the agent produces: a host off the list, a
// timeout.
func TestHTTPCall(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	defer close(hang)
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo", r.Header.Get("X-Test"))
		w.Header().Add("X-Multi", "1")
		w.Header().Add("X-Multi", "2")
		fmt.Fprintf(w, "%s %s", r.Method, body)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/echo", http.StatusFound) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	requests := func(reqs ...map[string]any) []byte {
		b, err := json.Marshal(map[string]any{"requests": reqs})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	config := requests(
		map[string]any{"method": "post", "url": srv.URL + "/echo", "headers": map[string][]string{"x-test": {"a b"}}, "body": "ping"},
		map[string]any{"url": srv.URL + "/redirect"},
		map[string]any{"url": tlsSrv.URL + "/echo", "timeout_ms": 2000},
		map[string]any{"url": srv.URL + "/missing"},
	)

	p := plugintest.LoadReactor(t, httpPluginPkg)
	grant := wasmhost.HTTPGrant{
		AllowHosts: []string{strings.TrimPrefix(srv.URL, "http://"), strings.TrimPrefix(tlsSrv.URL, "https://")},
		CAFile:     ca,
	}
	var logs testenv.Logs
	wasmOut, err := p.Run(context.Background(), wasmhost.Request{Config: config, HTTP: grant, Logger: logs.Logger()})
	if err != nil {
		t.Fatalf("%v\nlogs:\n%s", err, logs.String())
	}

	bin := testenv.BuildGo(t, filepath.Join(t.TempDir(), "httpplugin"), httpPluginPkg)
	cmd := exec.Command(bin)
	cmd.Stdin = bytes.NewReader(config)
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+ca)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	nativeOut, err := cmd.Output()
	if err != nil {
		t.Fatalf("native run: %v\n%s", err, stderr.String())
	}
	if !bytes.Equal(wasmOut, nativeOut) {
		t.Errorf("wasm output:\n%s\nnative output:\n%s", wasmOut, nativeOut)
	}
	for _, want := range []string{
		fmt.Sprintf(`sdkcheck_http_info{body="POST ping",echo="a b",req="0",status="200 OK",url="%s/echo",values="2"} 1`, srv.URL),
		fmt.Sprintf(`sdkcheck_http_info{body="GET ",echo="",req="1",status="200 OK",url="%s/echo",values="2"} 1`, srv.URL),
		fmt.Sprintf(`sdkcheck_http_info{body="GET ",echo="",req="2",status="200 OK",url="%s/echo",values="2"} 1`, tlsSrv.URL),
		`sdkcheck_http_tls_not_after_seconds{cert="0",req="2",version="TLS 1.3"} ` + floatText(float64(tlsSrv.Certificate().NotAfter.Unix())),
		`sdkcheck_http_status{req="3"} 404`,
		fmt.Sprintf(`sdkcheck_http_info{body="404 page not found\n",echo="",req="3",status="404 Not Found",url="%s/missing",values="0"} 1`, srv.URL),
	} {
		if !strings.Contains(string(wasmOut), want+"\n") {
			t.Errorf("output lacks %s:\n%s", want, wasmOut)
		}
	}

	// Failures as the agent reports them: a request is an error, the run
	// goes on.
	logs = testenv.Logs{}
	out, err := p.Run(context.Background(), wasmhost.Request{
		Config: requests(
			map[string]any{"url": "http://127.0.0.2:1/"},
			map[string]any{"url": srv.URL + "/slow", "timeout_ms": 100},
		),
		HTTP:   grant,
		Logger: logs.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `sdkcheck_http_failed{req="0"} 1`) || !strings.Contains(string(out), `sdkcheck_http_failed{req="1"} 1`) {
		t.Errorf("output:\n%s", out)
	}
	for _, want := range []*regexp.Regexp{
		// The plugin's WARN record, at its level and quoted once.
		regexp.MustCompile(`level=WARN msg="plugin log" message="request failed" req=0 err="Get \\"http://127.0.0.2:1/\\": pushagent_v1.http_request: host 127.0.0.2:1 is not in the collector's allow_hosts`),
		regexp.MustCompile(`level=WARN msg="plugin log" message="request failed" req=1 err="Get \\"` + regexp.QuoteMeta(srv.URL) + `/slow\\": pushagent_v1.http_request: GET ` + regexp.QuoteMeta(srv.URL) + `/slow: timed out after`),
	} {
		if !want.MatchString(logs.String()) {
			t.Errorf("logs do not match %s:\n%s", want, logs.String())
		}
	}
}

// The JSON of the http_request and http_result host calls is what
// docs/plugin-abi.md documents: its examples decode into the wire types
// with no field left over and encode back to the same JSON.
func TestABIWireMatchesDocs(t *testing.T) {
	doc := string(readFile(t, "../../docs/plugin-abi.md"))
	block := func(after string) []byte {
		t.Helper()
		i := strings.Index(doc, after)
		if i < 0 {
			t.Fatalf("docs/plugin-abi.md has no %q", after)
		}
		rest := doc[i:]
		start := strings.Index(rest, "```json\n") + len("```json\n")
		end := strings.Index(rest[start:], "```")
		// The examples write <base64> for a body; any base64 stands in.
		return []byte(strings.ReplaceAll(rest[start:start+end], `"<base64>"`, `"aGk="`))
	}
	for _, c := range []struct {
		name string
		doc  []byte
		v    any
	}{
		{"request", block("Request JSON"), &abi.HTTPRequest{}},
		{"result", block("Result JSON"), &abi.HTTPResult{}},
	} {
		dec := json.NewDecoder(bytes.NewReader(c.doc))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c.v); err != nil {
			t.Fatalf("%s: the documented JSON does not decode: %v\n%s", c.name, err, c.doc)
		}
		var enc bytes.Buffer
		e := json.NewEncoder(&enc)
		e.SetEscapeHTML(false) // the docs write <…> placeholders as they are
		if err := e.Encode(c.v); err != nil {
			t.Fatal(err)
		}
		got := bytes.TrimSuffix(enc.Bytes(), []byte("\n"))
		var want bytes.Buffer
		if err := json.Compact(&want, c.doc); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s: encodes as\n%s\nthe docs say\n%s", c.name, got, want.Bytes())
		}
	}
	// The minimal forms the docs describe: only url is required, and a
	// failed request is a status of 0 and an error.
	for _, c := range []struct {
		v    any
		want string
	}{
		{abi.HTTPRequest{Method: "GET", URL: "http://h/"}, `{"method":"GET","url":"http://h/"}`},
		{abi.HTTPResult{Error: "timed out"}, `{"status":0,"error":"timed out"}`},
		{abi.HTTPResult{Status: 204}, `{"status":204}`},
	} {
		if b, _ := json.Marshal(c.v); string(b) != c.want {
			t.Errorf("%+v encodes as %s, want %s", c.v, b, c.want)
		}
	}
}
