;; Build: wat2wasm grow.wat -o grow.wasm   (scripts/loadrun.sh does this)
;;
;; The memlimit scenario's collector: a plugin that uses all the memory its
;; collector's memory_limit allows, on every run. A WASI command, so each
;; run is a fresh instance: it grows its linear memory in 1 MiB steps until
;; memory.grow refuses (so it ends just under the limit, whatever the limit
;; is), writes one byte in every 4 KiB of it so that every page is
;; committed, and prints one gauge: the bytes it reached.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 128 bytes: the gauge's HELP and TYPE lines and its name.
  (data (i32.const 256) "# HELP loadrun_grow_bytes Linear memory the grow plugin reached and touched.\0a# TYPE loadrun_grow_bytes gauge\0aloadrun_grow_bytes ")
  ;; The value's digits are written backwards, ending just before this newline.
  (data (i32.const 1100) "\0a")
  (func (export "_start")
    (local $i i32)
    (local $units i32)
    (local $n i64)
    (local $pos i32)
    ;; Grow 16 pages (1 MiB) at a time until memory.grow returns -1.
    (block $full
      (loop $grow
        (br_if $full (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
        (br $grow)))
    ;; Touch every 4 KiB unit: there are memory.size × 16 of them.
    (local.set $units (i32.mul (memory.size) (i32.const 16)))
    (block $done
      (loop $touch
        (br_if $done (i32.ge_u (local.get $i) (local.get $units)))
        (i32.store8 (i32.shl (local.get $i) (i32.const 12)) (i32.const 1))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $touch)))
    ;; The value: memory.size × 65536 in decimal (i64: 4 GiB would not fit
    ;; an i32), digits written backwards from offset 1100.
    (local.set $n (i64.mul (i64.extend_i32_u (memory.size)) (i64.const 65536)))
    (local.set $pos (i32.const 1100))
    (loop $digit
      (local.set $pos (i32.sub (local.get $pos) (i32.const 1)))
      (i64.store8 (local.get $pos) (i64.add (i64.const 48) (i64.rem_u (local.get $n) (i64.const 10))))
      (local.set $n (i64.div_u (local.get $n) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $n) (i64.const 0))))
    ;; Two iovecs at offset 0 (touched above, so set only now): the header,
    ;; then the digits and the newline. fd_write's count of bytes written
    ;; goes to offset 16.
    (i32.store (i32.const 0) (i32.const 256))
    (i32.store (i32.const 4) (i32.const 128))
    (i32.store (i32.const 8) (local.get $pos))
    (i32.store (i32.const 12) (i32.sub (i32.const 1101) (local.get $pos)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 2) (i32.const 16)))))
