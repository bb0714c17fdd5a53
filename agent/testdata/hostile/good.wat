;; Build: wat2wasm good.wat -o good.wasm   (hostile_test.go does this)
;; The well-behaved neighbour of every hostile collector: prints one gauge.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "# TYPE hostile_good gauge\nhostile_good 1\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 41))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
