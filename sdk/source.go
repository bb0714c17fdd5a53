package sdk

import "embed"

// Source is this module's own source code (go.mod and every package,
// tests included), for tools that set up a plugin module without network
// access: `pushagent plugin new` writes it beside a new plugin and points
// the plugin's go.mod at it with a replace directive, until the module is
// published. A plugin that does not use Source does not carry it: the
// linker drops unreferenced data.
//
//go:embed go.mod *.go abi httpcall internal/hostcall
var Source embed.FS
