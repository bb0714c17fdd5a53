package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	toolkit "github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v2"
	"golang.org/x/crypto/bcrypt"
)

// The listener is secured by exporter-toolkit's web package, as
// node_exporter, the Pushgateway and Prometheus secure theirs, so operators
// reuse the web config files they already have. This file adds no TLS or
// authentication of its own: it checks a web config up front, to name the
// file and the field of a mistake (the toolkit's own messages often name
// neither), and serves through the toolkit.

// webConfigFlagHelp is --web.config.file's usage, shared by run and validate.
const webConfigFlagHelp = "exporter-toolkit web config (TLS, client certificates, basic_auth_users, headers) for the --listen listener, as node_exporter's and the Pushgateway's; empty: plain HTTP, no authentication"

// webSecurity is what a valid web config asks of every request.
type webSecurity struct {
	TLS        bool
	ClientAuth string // tls_server_config.client_auth_type, "" when none
	Users      int    // basic_auth_users
}

func (s webSecurity) String() string {
	var parts []string
	if s.TLS {
		tlsPart := "TLS on"
		if s.ClientAuth != "" && s.ClientAuth != "NoClientCert" {
			tlsPart += " (client certificates: " + s.ClientAuth + ")"
		}
		parts = append(parts, tlsPart)
	} else {
		parts = append(parts, "TLS off")
	}
	if s.Users > 0 {
		parts = append(parts, fmt.Sprintf("basic auth for %d user(s)", s.Users))
	} else {
		parts = append(parts, "no basic auth")
	}
	return strings.Join(parts, ", ")
}

// warnings are the ways a valid web config still leaves the listener open.
func (s webSecurity) warnings() []string {
	switch {
	case !s.TLS && s.Users == 0:
		return []string{"the web config asks for neither TLS nor basic_auth_users: the listener stays open to anyone who can reach it"}
	case !s.TLS:
		return []string{"basic_auth_users without tls_server_config: passwords cross the network in clear text"}
	}
	return nil
}

// clientAuthTypes are the values exporter-toolkit accepts for
// tls_server_config.client_auth_type.
var clientAuthTypes = []string{"NoClientCert", "RequestClientCert", "RequireAnyClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"}

// yamlSection maps exporter-toolkit's Go types to where they sit in the
// file, so that an unknown key is reported as the user wrote it.
var yamlSection = map[string]string{
	"web.Config":            "at the top level (keys: tls_server_config, http_server_config, rate_limit, basic_auth_users)",
	"web.TLSConfig":         "in tls_server_config",
	"web.HTTPConfig":        "in http_server_config (keys: http2, headers)",
	"web.RateLimiterConfig": "in rate_limit (keys: burst, interval)",
}

var (
	unknownFieldRe = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)
	// yaml quotes the start of a scalar that has the wrong type, which may
	// be a password or a hash written where a map belongs.
	quotedValueRe = regexp.MustCompile("(cannot unmarshal !!\\w+) `[^`]*`")
)

// checkWebConfig reads the web config at path and reports every problem it
// finds, each naming the file and the field. Messages never show a
// password hash, a private key or any other value of a secret field.
//
// After its own checks it runs exporter-toolkit's Validate, the same code
// that serves, so that nothing the toolkit would refuse passes here.
func checkWebConfig(path string) (webSecurity, error) {
	wrap := func(errs ...error) error {
		for i, e := range errs {
			errs[i] = fmt.Errorf("--web.config.file %s: %w", path, e)
		}
		return errors.Join(errs...)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return webSecurity{}, wrap(fmt.Errorf("cannot read the file: %v; check the path and its permissions", err))
	}
	var c toolkit.Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return webSecurity{}, wrap(fmt.Errorf("not valid YAML: %v", strings.TrimPrefix(err.Error(), "yaml: ")))
		}
		var errs []error
		for _, msg := range te.Errors {
			if m := unknownFieldRe.FindStringSubmatch(msg); m != nil {
				where := yamlSection[m[3]]
				if where == "" {
					where = "in " + m[3]
				}
				msg = fmt.Sprintf("line %s: unknown key %q %s", m[1], m[2], where)
			}
			msg = quotedValueRe.ReplaceAllString(msg, "$1")
			errs = append(errs, errors.New(msg))
		}
		return webSecurity{}, wrap(errs...)
	}

	var errs []error
	users := make([]string, 0, len(c.Users))
	for u := range c.Users {
		users = append(users, u)
	}
	slices.Sort(users)
	for _, u := range users {
		if _, err := bcrypt.Cost([]byte(c.Users[u])); err != nil {
			errs = append(errs, fmt.Errorf("basic_auth_users.%s: %s; make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n'", u, bcryptProblem(err)))
		}
	}

	sec := webSecurity{Users: len(c.Users), TLS: c.TLSConfig.IsEnabled(), ClientAuth: c.TLSConfig.ClientAuth}
	if sec.TLS {
		t := c.TLSConfig
		t.SetDirectory(filepath.Dir(path))
		errs = append(errs, checkTLSFiles(t)...)
		if t.ClientAuth != "" && !slices.Contains(clientAuthTypes, t.ClientAuth) && t.ClientAuth != "RequireClientCert" {
			errs = append(errs, fmt.Errorf("tls_server_config.client_auth_type: %q is not one of %s", t.ClientAuth, strings.Join(clientAuthTypes, ", ")))
		}
		if len(errs) == 0 {
			if _, err := toolkit.ConfigToTLSConfig(&t); err != nil {
				errs = append(errs, fmt.Errorf("tls_server_config: %v", err))
			}
		}
	}
	if len(errs) > 0 {
		return webSecurity{}, wrap(errs...)
	}
	if err := toolkit.Validate(path); err != nil {
		return webSecurity{}, wrap(err)
	}
	return sec, nil
}

// bcryptProblem describes what is wrong with a hash in words of our own:
// some of bcrypt's messages quote the hash's first bytes, and a mistaken
// entry may be a plain-text password.
func bcryptProblem(err error) string {
	var cost bcrypt.InvalidCostError
	switch {
	case errors.Is(err, bcrypt.ErrHashTooShort):
		return "not a bcrypt hash (too short; is it a plain-text password?)"
	case errors.As(err, &cost):
		return fmt.Sprintf("bcrypt cost %d is outside %d..%d", int(cost), bcrypt.MinCost, bcrypt.MaxCost)
	}
	return "not a bcrypt hash (it must start with $2a$, $2b$ or $2y$ and a cost; is it a plain-text password?)"
}

// checkTLSFiles names each file field of tls_server_config that is missing
// or unreadable, and the client CA file that holds no certificate
// (exporter-toolkit would accept it and then refuse every client).
func checkTLSFiles(t toolkit.TLSConfig) []error {
	var errs []error
	if t.TLSCertPath == "" && t.TLSCert == "" {
		errs = append(errs, errors.New("tls_server_config: no certificate: set cert_file (or cert)"))
	}
	if t.TLSKeyPath == "" && t.TLSKey == "" {
		errs = append(errs, errors.New("tls_server_config: no private key: set key_file (or key)"))
	}
	for _, f := range []struct{ field, path string }{
		{"cert_file", t.TLSCertPath}, {"key_file", t.TLSKeyPath}, {"client_ca_file", t.ClientCAs},
	} {
		if f.path == "" {
			continue
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			errs = append(errs, fmt.Errorf("tls_server_config.%s: cannot read %s: %v", f.field, f.path, err))
			continue
		}
		if f.field == "client_ca_file" && !x509.NewCertPool().AppendCertsFromPEM(b) {
			errs = append(errs, fmt.Errorf("tls_server_config.client_ca_file: %s holds no PEM certificate", f.path))
		}
	}
	if (t.ClientCAs != "" || t.ClientCAsText != "") && (t.ClientAuth == "" || t.ClientAuth == "NoClientCert") {
		errs = append(errs, errors.New("tls_server_config.client_auth_type: a client CA is set but no client certificate is asked for; set client_auth_type: RequireAndVerifyClientCert"))
	}
	return errs
}

// serve listens on addr and serves h through exporter-toolkit, secured as
// the web config at webConfig asks ("" for plain HTTP), until the server is
// closed. The toolkit reads the file again for every request and TLS
// handshake, so rotated certificates and changed users apply at once, as
// they do for the Pushgateway.
func serve(addr, webConfig string, h http.Handler, logger *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	// The toolkit's own log lines ("Listening on", "TLS is enabled.") and
	// the server's (a failed TLS handshake) go to the agent's log, in its
	// format, rather than to the standard logger.
	tlog := logger.With("component", "web")
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(tlog.Handler(), slog.LevelWarn)}
	go func() {
		err := toolkit.Serve(ln, srv, &toolkit.FlagConfig{WebConfigFile: &webConfig}, tlog)
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			// The toolkit returns before serving when the file broke
			// after checkWebConfig: free the port, nothing will answer.
			ln.Close()
			logger.Error("http listener stopped", "addr", addr, "err", err)
		}
	}()
	logger.Info("serving the status page, /metrics, /healthz and /readyz", "addr", ln.Addr().String())
	return srv, nil
}

// healthClient is the healthcheck command's HTTP client and credentials:
// what it takes to pass a listener secured by a web config.
type healthClient struct {
	url, caFile, certFile, keyFile, serverName string
	username, passwordFile                     string
	insecureSkipVerify                         bool
	timeout                                    time.Duration
}

// newRequest builds the GET with basic auth, and a client whose TLS trusts
// caFile and presents certFile. The password is read from its file here,
// so it is never on a command line.
func (hc *healthClient) newRequest() (*http.Client, *http.Request, error) {
	req, err := http.NewRequest(http.MethodGet, hc.url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("--url: %v", err)
	}
	if _, ok := req.URL.User.Password(); ok {
		return nil, nil, errors.New("--url must not hold a password, which would show in the process list: give --username and --password-file")
	}
	https := req.URL.Scheme == "https"
	if req.URL.Scheme != "http" && !https {
		return nil, nil, fmt.Errorf("--url %s: the scheme must be http or https", hc.url)
	}
	if !https && (hc.caFile != "" || hc.certFile != "" || hc.serverName != "" || hc.insecureSkipVerify) {
		return nil, nil, fmt.Errorf("--ca-file, --cert-file, --server-name and --insecure-skip-verify need an https:// --url, got %s", hc.url)
	}
	if hc.insecureSkipVerify && !isLoopback(req.URL.Hostname()) {
		return nil, nil, fmt.Errorf("--insecure-skip-verify is only for a listener on this host (127.0.0.1, ::1, localhost), not %s: give --ca-file instead", req.URL.Hostname())
	}
	if (hc.certFile == "") != (hc.keyFile == "") {
		return nil, nil, errors.New("--cert-file and --key-file go together")
	}
	if (hc.username == "") != (hc.passwordFile == "") {
		return nil, nil, errors.New("--username and --password-file go together")
	}
	if hc.passwordFile != "" {
		b, err := os.ReadFile(hc.passwordFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--password-file: %v", err)
		}
		password := strings.TrimRight(string(b), "\r\n")
		if password == "" {
			return nil, nil, fmt.Errorf("--password-file %s is empty", hc.passwordFile)
		}
		req.SetBasicAuth(hc.username, password)
	}
	// No proxy: the healthcheck talks to the local listener only.
	tr := &http.Transport{Proxy: nil}
	if https {
		tc := &tls.Config{ServerName: hc.serverName, InsecureSkipVerify: hc.insecureSkipVerify}
		if hc.caFile != "" {
			pem, err := os.ReadFile(hc.caFile)
			if err != nil {
				return nil, nil, fmt.Errorf("--ca-file: %v", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, nil, fmt.Errorf("--ca-file %s holds no PEM certificate", hc.caFile)
			}
		}
		if hc.certFile != "" {
			cert, err := tls.LoadX509KeyPair(hc.certFile, hc.keyFile)
			if err != nil {
				return nil, nil, fmt.Errorf("--cert-file/--key-file: %v", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		tr.TLSClientConfig = tc
	}
	return &http.Client{Timeout: hc.timeout, Transport: tr}, req, nil
}

// healthHint says what to change after a failed healthcheck, for the
// failures a secured listener causes, and for no listener at all. username
// is --username: a 401 to a request that carried credentials means they
// were refused, not that they are missing.
func healthHint(err error, status int, body, username string) string {
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case err != nil && errors.As(err, &unknownCA):
		return "give --ca-file with the CA that signed the listener's certificate (or --insecure-skip-verify for a listener on 127.0.0.1)"
	case err != nil && errors.As(err, &hostErr):
		return "give --server-name with a name the listener's certificate holds"
	case err != nil && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "the listener speaks plain HTTP: use an http:// --url"
	case err != nil && (strings.Contains(err.Error(), "certificate required") || strings.Contains(err.Error(), "bad certificate")):
		return "the listener asks for a client certificate: give --cert-file and --key-file"
	case err != nil && errors.Is(err, syscall.ECONNREFUSED):
		return "nothing listens there: the agent serves /healthz only when run with --listen (e.g. pushagent run --listen 127.0.0.1:9465); give that address in --url"
	case status == http.StatusUnauthorized && username != "":
		return fmt.Sprintf("the listener refused the credentials of user %q: check that the web config's basic_auth_users holds that user, and that --password-file holds its password", username)
	case status == http.StatusUnauthorized:
		return "the listener wants basic auth: give --username and --password-file"
	case status == http.StatusBadRequest && strings.Contains(body, "HTTPS server"):
		return "the listener speaks HTTPS: use an https:// --url"
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
