package httpcall_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/pushagent/pushagent/sdk/httpcall"
)

// Natively, as in a plugin's tests, requests go to an httptest server; in
// the agent the same code goes through its host call.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"queue": 12, "accept": %q}`, r.Header.Get("Accept"))
	}))
	defer srv.Close()

	resp, err := httpcall.Get(srv.URL+"/stats", map[string]string{"Accept": "application/json"})
	if err != nil {
		fmt.Println(err) // no response: refused, timed out, unreachable
		return
	}
	fmt.Println(resp.Status, resp.Header.Get("content-type"))
	fmt.Println(string(resp.Body))
	// Output:
	// 200 OK application/json
	// {"queue": 12, "accept": "application/json"}
}
