//go:build wasip1

package httpcall

import "github.com/pushagent/pushagent/sdk/internal/hostcall"

// do hands the request to the agent: JSON in, JSON out. The host call blocks
// the whole guest until the agent has the response or gives up.
func do(req Request) (*Response, error) {
	b, err := encodeRequest(req)
	if err != nil {
		return nil, err
	}
	res, err := hostcall.HTTP(b)
	if err != nil {
		return nil, err
	}
	return decodeResult(res)
}
