;; Build: wat2wasm escape.wat -o escape.wasm   (hostile_test.go does this)
;; Tries to read a file outside its mount. Its config (a JSON string) is a
;; path handed straight to WASI path_open relative to the first preopen
;; (fd 3), following symlinks, with no guest-side cleaning: "../secret",
;; an absolute host path, a symlink planted in the mount. If the open fails
;; it exits with the WASI errno as its exit code. If it succeeds it prints
;; what it read, as hostile_leak{content="..."} 1 on stdout and raw on
;; stderr, so a leak would show in the push and in the agent's log.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  ;; 0..7 iovec, 8 nread/nwritten, 12 opened fd, 64.. output, 1024.. path
  (data (i32.const 64) "hostile_leak{content=\"")
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (local $p i32) (local $n i32) (local $errno i32) (local $m i32)
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 1024))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $n (i32.load (i32.const 8)))
    (local.set $p (i32.const 1024))
    ;; strip the JSON string's quotes
    (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 34))
      (then
        (local.set $p (i32.const 1025))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))))
    (if (i32.gt_s (local.get $n) (i32.const 0))
      (then
        (if (i32.eq (i32.load8_u (i32.sub (i32.add (local.get $p) (local.get $n)) (i32.const 1))) (i32.const 34))
          (then (local.set $n (i32.sub (local.get $n) (i32.const 1)))))))
    ;; dirflags 1 = follow symlinks; rights 2 = fd_read
    (local.set $errno (call $path_open (i32.const 3) (i32.const 1) (local.get $p) (local.get $n)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 12)))
    (if (local.get $errno) (then (call $exit (local.get $errno))))
    ;; read the file right after the output prefix (64+22 = 86)
    (i32.store (i32.const 0) (i32.const 86))
    (i32.store (i32.const 4) (i32.const 900))
    (local.set $errno (call $fd_read (i32.load (i32.const 12)) (i32.const 0) (i32.const 1) (i32.const 8)))
    (if (local.get $errno) (then (call $exit (local.get $errno))))
    (local.set $m (i32.load (i32.const 8)))
    (call $write (i32.const 2) (i32.const 86) (local.get $m))
    ;; append "\"} 1\n"
    (i32.store8 (i32.add (i32.const 86) (local.get $m)) (i32.const 34))
    (i32.store8 (i32.add (i32.const 87) (local.get $m)) (i32.const 125))
    (i32.store8 (i32.add (i32.const 88) (local.get $m)) (i32.const 32))
    (i32.store8 (i32.add (i32.const 89) (local.get $m)) (i32.const 49))
    (i32.store8 (i32.add (i32.const 90) (local.get $m)) (i32.const 10))
    (call $write (i32.const 1) (i32.const 64) (i32.add (i32.const 27) (local.get $m)))))
