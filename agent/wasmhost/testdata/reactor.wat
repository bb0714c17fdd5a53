;; A reactor-form plugin in WAT. Each pushagent_collect call echoes the
;; call's stdin and counts calls in a global, so tests can see that the
;; instance is warm (the count grows) and that stdin is fresh per call.
;; Output: wat_reactor_calls{config="<stdin>"} <n>
;; Build: wat2wasm reactor.wat -o reactor.wasm   (the tests do this)
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "pushagent_v1" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (global $inited (mut i32) (i32.const 0))
  (data (i32.const 64) "wat_reactor_calls{config=\"")
  (data (i32.const 32) "collect called")
  (func (export "_initialize") (global.set $inited (i32.const 1)))
  (func (export "pushagent_collect") (result i32)
    (local $n i32) (local $p i32)
    (if (i32.eqz (global.get $inited)) (then (return (i32.const 9))))
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (call $log (i32.const 1) (i32.const 32) (i32.const 14))
    ;; stdin after the 26-byte prefix, at 90
    (i32.store (i32.const 0) (i32.const 90))
    (i32.store (i32.const 4) (i32.const 200))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $n (i32.load (i32.const 8)))
    (local.set $p (i32.add (i32.const 90) (local.get $n)))
    (i32.store8 (local.get $p) (i32.const 34))
    (i32.store8 (i32.add (local.get $p) (i32.const 1)) (i32.const 125))
    (i32.store8 (i32.add (local.get $p) (i32.const 2)) (i32.const 32))
    ;; calls as a single digit (tests call it fewer than 10 times)
    (i32.store8 (i32.add (local.get $p) (i32.const 3))
      (i32.add (i32.const 48) (i32.rem_u (global.get $calls) (i32.const 10))))
    (i32.store8 (i32.add (local.get $p) (i32.const 4)) (i32.const 10))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.add (i32.const 31) (local.get $n)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.const 0)))
