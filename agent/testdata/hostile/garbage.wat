;; Build: wat2wasm garbage.wat -o garbage.wasm   (hostile_test.go does this)
;; Exits 0 after printing bytes that are not exposition text at all.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "\00\ff\fe{{{ <html>not metrics</html> }}}\n\"unterminated\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 50))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
