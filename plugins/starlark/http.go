package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	starjson "go.starlark.net/lib/json"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/pushagent/pushagent/sdk/httpcall"
)

// maxBody bounds a response body the script can hold. In the sandbox the
// agent's http_request call has its own, usually smaller, bound
// (max_response); this one is the limit of a native run.
const maxBody = 16 << 20

// maxTimeout caps a script's timeout= so that a huge number cannot overflow
// a time.Duration.
const maxTimeout = time.Hour

// doHTTP performs a script's request. In the sandbox it goes through the
// agent's http_request host call, which only reaches the collector's
// allow_hosts; natively it uses net/http. Tests replace it to keep fuzzed
// scripts off the network.
var doHTTP = httpcall.Do

var httpModule = &starlarkstruct.Module{
	Name: "http",
	Members: starlark.StringDict{
		"get":     starlark.NewBuiltin("http.get", httpCall),
		"post":    starlark.NewBuiltin("http.post", httpCall),
		"request": starlark.NewBuiltin("http.request", httpCall),
	},
}

// httpCall implements http.get(url, headers={}, timeout=None),
// http.post(url, body="", json=None, headers={}, timeout=None) and
// http.request(method, url, body="", json=None, headers={}, timeout=None).
// timeout is in seconds; it can only shorten the agent's per-call bound.
//
// Any answer, whatever its status, is a response; only a request that got
// no answer (refused, not allowed, timed out) is an error, which fails the
// run unless the script's logic never gets there.
func httpCall(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		method, url string
		body        starlark.Value = starlark.String("")
		jsonBody    starlark.Value
		headers     *starlark.Dict
		timeout     starlark.Value = starlark.None
	)
	var err error
	switch b.Name() {
	case "http.get":
		method = "GET"
		err = starlark.UnpackArgs(b.Name(), args, kwargs, "url", &url, "headers?", &headers, "timeout?", &timeout)
	case "http.post":
		method = "POST"
		err = starlark.UnpackArgs(b.Name(), args, kwargs, "url", &url, "body?", &body, "json?", &jsonBody, "headers?", &headers, "timeout?", &timeout)
	default:
		err = starlark.UnpackArgs(b.Name(), args, kwargs, "method", &method, "url", &url, "body?", &body, "json?", &jsonBody, "headers?", &headers, "timeout?", &timeout)
		method = strings.ToUpper(method)
	}
	if err != nil {
		return nil, err
	}
	var payload string
	switch x := body.(type) {
	case starlark.String:
		payload = string(x)
	case starlark.Bytes:
		payload = string(x)
	default:
		return nil, fmt.Errorf("%s: body: got %s, want string or bytes", b.Name(), body.Type())
	}
	if jsonBody != nil && jsonBody != starlark.None {
		if payload != "" {
			return nil, fmt.Errorf("%s: give body or json, not both", b.Name())
		}
		enc, err := starlark.Call(thread, starjson.Module.Members["encode"], starlark.Tuple{jsonBody}, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: json: %w", b.Name(), err)
		}
		payload = string(enc.(starlark.String))
	}
	req := httpcall.Request{Method: method, URL: url}
	if payload != "" {
		req.Body = []byte(payload)
	}
	if timeout != starlark.None {
		secs, err := toFloat(timeout)
		if err != nil || !(secs > 0) {
			return nil, fmt.Errorf("%s: timeout must be a positive number of seconds, got %s", b.Name(), timeout)
		}
		secs = min(secs, maxTimeout.Seconds()) // the agent's own bound is far lower
		// At least 1ns: a timeout of 0 would mean the agent's default
		// rather than the tiny one the script asked for.
		req.Timeout = max(time.Duration(secs*float64(time.Second)), 1)
	}
	if headers != nil {
		req.Header = make(httpcall.Header, headers.Len())
		for _, item := range headers.Items() {
			k, ok := starlark.AsString(item[0])
			if !ok {
				return nil, fmt.Errorf("%s: header names must be strings, got %s", b.Name(), item[0].Type())
			}
			v, ok := starlark.AsString(item[1])
			if !ok {
				return nil, fmt.Errorf("%s: header %q: value must be a string, got %s", b.Name(), k, item[1].Type())
			}
			req.Header.Add(k, v)
		}
	}
	if jsonBody != nil && jsonBody != starlark.None && req.Header.Get("Content-Type") == "" {
		if req.Header == nil {
			req.Header = make(httpcall.Header, 1)
		}
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := doHTTP(req)
	if err != nil {
		return nil, err
	}
	if len(resp.Body) > maxBody {
		return nil, fmt.Errorf("%s %s: response body is larger than %d bytes", method, url, maxBody)
	}
	if resp.URL == "" {
		resp.URL = url
	}
	return newResponse(resp), nil
}

// response is what an HTTP call returns: resp.status (int), resp.headers
// (dict, names in lower case, repeated headers joined with ", "),
// resp.body (string) and resp.json() (the body decoded).
type response struct {
	url     string
	status  starlark.Int
	headers *starlark.Dict
	body    starlark.String
}

var (
	_ starlark.HasAttrs = (*response)(nil)
	_ starlark.Value    = (*response)(nil)
)

func newResponse(resp *httpcall.Response) *response {
	names := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	headers := starlark.NewDict(len(names))
	for _, k := range names {
		_ = headers.SetKey(starlark.String(strings.ToLower(k)), starlark.String(strings.Join(resp.Header[k], ", ")))
	}
	headers.Freeze()
	return &response{
		url:     resp.URL,
		status:  starlark.MakeInt(resp.StatusCode),
		headers: headers,
		body:    starlark.String(resp.Body),
	}
}

func (r *response) String() string        { return fmt.Sprintf("<http.response %s %s>", r.status, r.url) }
func (r *response) Type() string          { return "http.response" }
func (r *response) Freeze()               {}
func (r *response) Truth() starlark.Bool  { return true }
func (r *response) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: http.response") }

func (r *response) AttrNames() []string { return []string{"body", "headers", "json", "status", "url"} }

func (r *response) Attr(name string) (starlark.Value, error) {
	switch name {
	case "status":
		return r.status, nil
	case "headers":
		return r.headers, nil
	case "body":
		return r.body, nil
	case "url":
		return starlark.String(r.url), nil
	case "json":
		return starlark.NewBuiltin("response.json", r.json), nil
	}
	return nil, nil
}

// json decodes the body as json.decode does, naming the URL on failure:
// an HTML error page is the usual reason.
func (r *response) json(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs("response.json", args, kwargs, 0); err != nil {
		return nil, err
	}
	v, err := starlark.Call(thread, starjson.Module.Members["decode"], starlark.Tuple{r.body}, nil)
	if err != nil {
		return nil, fmt.Errorf("body of %s is not JSON: %w", r.url, err)
	}
	return v, nil
}
