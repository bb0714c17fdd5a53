;; Build: wat2wasm stderr_flood.wat -o stderr_flood.wasm   (hostile_test.go does this)
;; Writes lines to stderr forever: the agent's log must stay bounded and
;; the deadline must still stop it.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "hostile stderr flood line\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 26))
    (loop $flood
      (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br $flood))))
