;; Build: wat2wasm divzero.wat -o divzero.wasm   (hostile_test.go does this)
;; Prints a valid sample, then traps on an integer division by zero.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "hostile_divzero 1\n")
  (func (export "_start")
    (local $zero i32)
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 18))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (drop (i32.div_u (i32.const 1) (local.get $zero)))))
