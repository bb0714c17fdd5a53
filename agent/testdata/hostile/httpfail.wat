;; Build: wat2wasm httpfail.wat -o httpfail.wasm   (hostile_test.go does this)
;; Makes one pushagent_v1.http_request call, its stdin (the collector's
;; config) being the request JSON, and reads the result. Like a careful
;; real plugin it fails its run when the host reports an error: if the
;; result holds "error":" it copies the result to stderr and exits 1;
;; otherwise it prints hostile_http_ok 1.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "pushagent_v1" "http_request" (func $http_request (param i32 i32) (result i32)))
  (import "pushagent_v1" "http_result" (func $http_result (param i32 i32) (result i32)))
  ;; 0..7 iovec, 8 nread/nwritten, 64.. constants, 1024.. request,
  ;; 65536..196607 result
  (memory (export "memory") 3)
  (data (i32.const 64) "\"error\":\"")
  (data (i32.const 96) "hostile_http_ok 1\n")
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  ;; $has_error reports whether memory[ptr..ptr+len] contains "error":"
  (func $has_error (param $ptr i32) (param $len i32) (result i32)
    (local $i i32) (local $j i32)
    (block $no
      (loop $at
        (br_if $no (i32.gt_s (i32.add (local.get $i) (i32.const 9)) (local.get $len)))
        (local.set $j (i32.const 0))
        (block $mismatch
          (loop $cmp
            (br_if $mismatch (i32.ne
              (i32.load8_u (i32.add (local.get $ptr) (i32.add (local.get $i) (local.get $j))))
              (i32.load8_u (i32.add (i32.const 64) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br_if $cmp (i32.lt_u (local.get $j) (i32.const 9))))
          (return (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $at)))
    (i32.const 0))
  (func (export "_start")
    (local $n i32) (local $got i32)
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 4096))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $n (call $http_request (i32.const 1024) (i32.load (i32.const 8))))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (call $exit (i32.const 3))))
    (if (i32.gt_u (local.get $n) (i32.const 131072)) (then (local.set $n (i32.const 131072))))
    (local.set $got (call $http_result (i32.const 65536) (local.get $n)))
    (if (i32.lt_s (local.get $got) (i32.const 0)) (then (call $exit (i32.const 4))))
    (if (call $has_error (i32.const 65536) (local.get $got))
      (then
        (call $write (i32.const 2) (i32.const 65536) (local.get $got))
        (call $exit (i32.const 1))))
    (call $write (i32.const 1) (i32.const 96) (i32.const 18))))
