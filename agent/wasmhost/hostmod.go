package wasmhost

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/pushagent/pushagent/sdk/abi"
)

// runState is what host functions know about the run they serve. It travels
// in the context wazero hands to host functions, because one compiled host
// module serves every plugin and every run concurrently.
type runState struct {
	logger     *slog.Logger
	lines      *lineLogger // the run's stderr, which keeps its failure reason
	http       HTTPGrant
	httpCalls  int
	pending    []byte // the result of the last http_request, until read
	transports *transports
}

type runStateKey struct{}

func withRunState(ctx context.Context, st *runState) context.Context {
	return context.WithValue(ctx, runStateKey{}, st)
}

func stateFrom(ctx context.Context) *runState {
	if st, ok := ctx.Value(runStateKey{}).(*runState); ok {
		return st
	}
	// Outside a run (cannot happen through Plugin.Run): grant nothing.
	return &runState{logger: slog.New(slog.DiscardHandler), transports: &transports{}}
}

// maxLogMessage bounds one log call so a plugin cannot make the host copy
// megabytes per call.
const maxLogMessage = 4096

// hostFunctions is the pushagent_v1 module: name -> definition. The import
// check at load refuses anything not listed here.
var hostFunctions = map[string]struct {
	fn      api.GoModuleFunc
	params  []api.ValueType
	results []api.ValueType
	doc     string
}{
	abi.LogFunc: {
		fn:     hostLog,
		params: []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32},
		doc:    "log(level i32, ptr i32, len i32): 0 debug, 1 info, 2 warn, 3 error",
	},
	abi.HTTPRequestFunc: {
		fn:      hostHTTPRequest,
		params:  []api.ValueType{api.ValueTypeI32, api.ValueTypeI32},
		results: []api.ValueType{api.ValueTypeI32},
		doc:     "http_request(req_ptr i32, req_len i32) -> i32: result length, or -1",
	},
	abi.HTTPResultFunc: {
		fn:      hostHTTPResult,
		params:  []api.ValueType{api.ValueTypeI32, api.ValueTypeI32},
		results: []api.ValueType{api.ValueTypeI32},
		doc:     "http_result(buf_ptr i32, buf_len i32) -> i32: bytes copied, or -1",
	},
}

func hostFunctionNames() []string {
	names := make([]string, 0, len(hostFunctions))
	for n := range hostFunctions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func instantiateHostModule(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder(hostModule)
	for _, name := range hostFunctionNames() {
		f := hostFunctions[name]
		b.NewFunctionBuilder().
			WithGoModuleFunction(stopWhenDone(f.fn), f.params, f.results).
			WithName(name).
			Export(name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// stopWhenDone ends the guest as soon as it calls the host after its run
// is over. An instrumented guest notices the end of its run only at its next
// exit to Go, up to some thousand loop iterations later; a guest looping on
// a host call that fails fast once the deadline passed (an HTTP call) would
// otherwise make, and log, that many more calls.
func stopWhenDone(fn api.GoModuleFunc) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		if ctx.Err() != nil {
			panic(sys.NewExitError(sys.ExitCodeDeadlineExceeded))
		}
		fn(ctx, mod, stack)
	}
}

func hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	level, ptr, n := api.DecodeI32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	truncated := false
	if n > maxLogMessage {
		n, truncated = maxLogMessage, true
	}
	msg, ok := mod.Memory().Read(ptr, n)
	st := stateFrom(ctx)
	if !ok {
		st.logger.Warn("plugin log call with an out-of-range message", "ptr", ptr, "len", n)
		return
	}
	text := string(msg)
	if !utf8.ValidString(text) {
		text = string([]rune(text)) // replaces invalid bytes with U+FFFD
	}
	var lvl slog.Level
	switch {
	case level <= 0:
		lvl = slog.LevelDebug
	case level == 1:
		lvl = slog.LevelInfo
	case level == 2:
		lvl = slog.LevelWarn
	default:
		lvl = slog.LevelError
	}
	r := &heldRecord{level: lvl, msg: "plugin log", args: []any{"message", text},
		partial: truncated || len(text) > maxReason || strings.Contains(text, "\n")}
	if truncated {
		r.args = append(r.args, "truncated", true)
	}
	if lvl == slog.LevelError && st.lines != nil {
		// The reason of a run that then fails: logged inside its error.
		st.lines.logCallError(r, text)
		return
	}
	st.logger.Log(ctx, r.level, r.msg, r.args...)
}
