;; Build: wat2wasm halfvalid.wat -o halfvalid.wasm   (hostile_test.go does this)
;; Exits 0 after printing a valid family followed by a broken line: per the
;; merge rules the whole output is rejected, the valid part included.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "# TYPE hostile_half gauge\nhostile_half 1\nhostile_half{broken=\"} 2\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 66))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
