//go:build wasip1

package hostcall

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

//go:wasmimport pushagent_v1 http_request
func httpRequest(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport pushagent_v1 http_result
func httpResult(ptr unsafe.Pointer, n uint32) int32

// mu keeps one http_request/http_result pair together: the host holds one
// pending result per instance, so two goroutines interleaving their calls
// would read each other's results.
var mu sync.Mutex

// HTTP hands the JSON request to pushagent_v1.http_request and returns the
// JSON result that pushagent_v1.http_result copies back. The host performs
// the request while the guest is blocked in the call. An error here means
// the ABI itself failed; a failed request is reported inside the result.
func HTTP(request []byte) ([]byte, error) {
	mu.Lock()
	defer mu.Unlock()
	n := httpRequest(bytesPointer(request), uint32(len(request)))
	runtime.KeepAlive(request)
	if n < 0 {
		return nil, errors.New("pushagent_v1.http_request: the host could not read the request")
	}
	result := make([]byte, n)
	got := httpResult(bytesPointer(result), uint32(n))
	runtime.KeepAlive(result)
	switch {
	case got < 0:
		return nil, errors.New("pushagent_v1.http_result: no pending result")
	case got != n:
		return nil, fmt.Errorf("pushagent_v1.http_result: copied %d bytes of a %d-byte result", got, n)
	}
	return result, nil
}

func bytesPointer(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}
