;; Build: wat2wasm badsig.wat -o badsig.wasm   (hostile_test.go does this)
;; Imports WASI fd_write and pushagent_v1.log by the right names but with
;; the wrong signatures: the host provides neither, so it must be refused
;; at load like any other missing import.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32)))
  (import "pushagent_v1" "log" (func (param i64)))
  (memory (export "memory") 1)
  (func (export "_start")))
