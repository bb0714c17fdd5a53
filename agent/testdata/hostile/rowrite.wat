;; Build: wat2wasm rowrite.wat -o rowrite.wasm   (hostile_test.go does this)
;; Tries to change its read-only mount (the first preopen, fd 3) in the way
;; chosen by the first byte of its config (a JSON string):
;;   c create "created" and write to it   t truncate "in.prom" and write
;;   a append to "in.prom"                 u unlink "in.prom"
;;   d mkdir "newdir"                      r rename "in.prom" to "moved"
;;   s symlink "link" -> "/"               z set the size of "in.prom" to 0
;; The first WASI call that fails ends the run with its errno as the exit
;; code; if every call succeeds it prints hostile_wrote 1 and exits 0.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file"
    (func $path_unlink_file (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory"
    (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename"
    (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink"
    (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_size"
    (func $fd_filestat_set_size (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  ;; 0..7 iovec, 8 nread/nwritten, 12 opened fd, 100.. stdin
  (data (i32.const 200) "created")
  (data (i32.const 216) "in.prom")
  (data (i32.const 232) "newdir")
  (data (i32.const 248) "moved")
  (data (i32.const 264) "link")
  (data (i32.const 280) "/")
  (data (i32.const 296) "pwned\n")
  (data (i32.const 320) "hostile_wrote 1\n")
  (func $check (param $errno i32)
    (if (local.get $errno) (then (call $exit (local.get $errno)))))
  (func $open (param $path i32) (param $len i32) (param $oflags i32) (param $rights i64) (param $fdflags i32) (result i32)
    (call $check (call $path_open (i32.const 3) (i32.const 0) (local.get $path) (local.get $len)
      (local.get $oflags) (local.get $rights) (i64.const 0) (local.get $fdflags) (i32.const 12)))
    (i32.load (i32.const 12)))
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (call $check (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (local $mode i32)
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 2))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $mode (i32.load8_u (i32.const 100)))
    (if (i32.eq (local.get $mode) (i32.const 34))
      (then (local.set $mode (i32.load8_u (i32.const 101)))))
    (block $done
      ;; c: oflags 1 = creat, rights 64 = fd_write
      (if (i32.eq (local.get $mode) (i32.const 99))
        (then (call $write (call $open (i32.const 200) (i32.const 7) (i32.const 1) (i64.const 64) (i32.const 0)) (i32.const 296) (i32.const 6))
              (br $done)))
      ;; t: oflags 8 = trunc
      (if (i32.eq (local.get $mode) (i32.const 116))
        (then (call $write (call $open (i32.const 216) (i32.const 7) (i32.const 8) (i64.const 64) (i32.const 0)) (i32.const 296) (i32.const 6))
              (br $done)))
      ;; a: fdflags 1 = append
      (if (i32.eq (local.get $mode) (i32.const 97))
        (then (call $write (call $open (i32.const 216) (i32.const 7) (i32.const 0) (i64.const 64) (i32.const 1)) (i32.const 296) (i32.const 6))
              (br $done)))
      (if (i32.eq (local.get $mode) (i32.const 117))
        (then (call $check (call $path_unlink_file (i32.const 3) (i32.const 216) (i32.const 7)))
              (br $done)))
      (if (i32.eq (local.get $mode) (i32.const 100))
        (then (call $check (call $path_create_directory (i32.const 3) (i32.const 232) (i32.const 6)))
              (br $done)))
      (if (i32.eq (local.get $mode) (i32.const 114))
        (then (call $check (call $path_rename (i32.const 3) (i32.const 216) (i32.const 7) (i32.const 3) (i32.const 248) (i32.const 5)))
              (br $done)))
      (if (i32.eq (local.get $mode) (i32.const 115))
        (then (call $check (call $path_symlink (i32.const 280) (i32.const 1) (i32.const 3) (i32.const 264) (i32.const 4)))
              (br $done)))
      ;; z: rights fd_read (2) | fd_filestat_set_size (1<<22)
      (if (i32.eq (local.get $mode) (i32.const 122))
        (then (call $check (call $fd_filestat_set_size
                (call $open (i32.const 216) (i32.const 7) (i32.const 0) (i64.const 4194306) (i32.const 0)) (i64.const 0)))
              (br $done)))
      (call $exit (i32.const 99)))
    (call $write (i32.const 1) (i32.const 320) (i32.const 16))))
