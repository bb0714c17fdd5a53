// Package sdkcheck holds the tests that hold the plugin SDK (the sdk
// module) to the agent: its output is parsed by the agent's own parser
// (prometheus/common/expfmt) into the families the plugin meant, byte for
// byte what expfmt writes; what sdk.ParseText accepts the agent accepts; the
// host-call JSON is the one docs/plugin-abi.md documents; and the reactor
// and command forms work under the agent's real wasm host. The sdk module
// cannot run these itself: it has no requirements, and these tests need
// expfmt and wazero.
//
// It has no code of its own: everything is in its tests. It must never be
// imported by the sdk module: that would give every plugin its
// requirements.
package sdkcheck
