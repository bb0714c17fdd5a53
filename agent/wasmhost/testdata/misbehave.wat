;; Misbehaving command plugins, one per mode chosen by the first byte of
;; stdin: 'l' loops forever, 't' traps (unreachable), 'e' exits with code 3,
;; 'f' floods stdout, 'm' grows memory until refused then traps, 's' floods
;; stderr then succeeds. A leading double quote is skipped, so the mode can
;; be given as a JSON string in a collector's config (config: loop).
;; Build: wat2wasm misbehave.wat -o misbehave.wasm   (the tests do this)
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "x 1\nx 1\nx 1\nx 1\n")
  (func (export "_start")
    (local $mode i32)
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 2))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $mode (i32.load8_u (i32.const 100)))
    (if (i32.eq (local.get $mode) (i32.const 34))
      (then (local.set $mode (i32.load8_u (i32.const 101)))))
    (if (i32.eq (local.get $mode) (i32.const 108)) ;; l
      (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $mode) (i32.const 116)) ;; t
      (then unreachable))
    (if (i32.eq (local.get $mode) (i32.const 101)) ;; e
      (then (call $exit (i32.const 3))))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 16))
    (if (i32.eq (local.get $mode) (i32.const 102)) ;; f
      (then (loop $flood
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (br $flood))))
    (if (i32.eq (local.get $mode) (i32.const 115)) ;; s
      (then
        (loop $chat
          (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
          (i32.store (i32.const 12) (i32.add (i32.load (i32.const 12)) (i32.const 1)))
          (br_if $chat (i32.lt_u (i32.load (i32.const 12)) (i32.const 100000))))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (return)))
    (if (i32.eq (local.get $mode) (i32.const 109)) ;; m
      (then
        (loop $grow
          (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
        unreachable))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
