;; A command-form plugin in hand-written WebAssembly text: proof that the ABI
;; needs nothing Go-specific. It copies its config (stdin) into a label and
;; prints one sample:  wat_hello{config="<stdin>"} 1
;; Build: wat2wasm hello.wat -o hello.wasm   (the tests do this)
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0..7 iovec, 8..11 nread/nwritten, 64.. output buffer
  (data (i32.const 64) "wat_hello{config=\"")
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (local $n i32)
    ;; read up to 256 bytes of stdin right after the prefix (64+18=82)
    (i32.store (i32.const 0) (i32.const 82))
    (i32.store (i32.const 4) (i32.const 256))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $n (i32.load (i32.const 8)))
    ;; append "\"} 1\n"
    (i32.store8 (i32.add (i32.const 82) (local.get $n)) (i32.const 34))
    (i32.store8 (i32.add (i32.const 83) (local.get $n)) (i32.const 125))
    (i32.store8 (i32.add (i32.const 84) (local.get $n)) (i32.const 32))
    (i32.store8 (i32.add (i32.const 85) (local.get $n)) (i32.const 49))
    (i32.store8 (i32.add (i32.const 86) (local.get $n)) (i32.const 10))
    (call $write (i32.const 64) (i32.add (i32.const 23) (local.get $n)))))
