;; example: a pushagent collector plugin in hand-written WebAssembly text,
;; reactor form (ABI v1, docs/plugin-abi.md). No compiler, no libc: the
;; module imports three functions and exports two things.
;;
;; On each call of pushagent_collect it
;;   - reads its config from stdin to EOF (a fresh stream per call) and
;;     reports its size: wat_example_config_bytes <n>;
;;   - prints a fixed gauge family wat_example_value{i="0".."19"} 10*i;
;;   - counts its calls in a global, which survives between calls because
;;     the agent keeps the instance warm: wat_example_calls_total <calls>;
;;   - logs one debug line through the host function pushagent_v1.log;
;; and returns 0 (success), or 1 if reading stdin or writing stdout failed.
;;
;; No _initialize: it is optional for a reactor, and there is nothing to set
;; up. A module without _start that exports pushagent_collect is a reactor.
;;
;; Build: wat2wasm example.wat -o wat-reactor.wasm   (build.sh does this)
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "pushagent_v1" "log" (func $log (param i32 i32 i32)))

  ;; One 64 KiB page:
  ;;   0..7      iovec {ptr, len} for fd_read/fd_write
  ;;   16..19    bytes read or written by the last call
  ;;   256..821  the constant strings below (offset, length in the comment)
  ;;   1024..2047  scratch buffer for stdin
  ;;   4096..    the output being built, at most about 2 KiB
  (memory (export "memory") 1)
  (data (i32.const 256) ;; 107 bytes
    "# HELP wat_example_value Example gauge family: series i has the value 10*i.\n"
    "# TYPE wat_example_value gauge\n")
  (data (i32.const 384) "wat_example_value{i=\"") ;; 21
  (data (i32.const 416) "\"} ") ;; 3
  (data (i32.const 448) ;; 144
    "# HELP wat_example_calls_total Calls of pushagent_collect on this warm instance.\n"
    "# TYPE wat_example_calls_total counter\n"
    "wat_example_calls_total ")
  (data (i32.const 640) ;; 148
    "# HELP wat_example_config_bytes Size of the config read from stdin to EOF, in bytes.\n"
    "# TYPE wat_example_config_bytes gauge\n"
    "wat_example_config_bytes ")
  (data (i32.const 800) "wat example: collected") ;; 22

  (global $calls (mut i32) (i32.const 0))
  ;; The end of the output built so far; reset at the start of each call.
  (global $out (mut i32) (i32.const 4096))

  ;; put appends len bytes at ptr to the output.
  (func $put (param $ptr i32) (param $len i32)
    (memory.copy (global.get $out) (local.get $ptr) (local.get $len))
    (global.set $out (i32.add (global.get $out) (local.get $len))))

  ;; putc appends one byte to the output.
  (func $putc (param $c i32)
    (i32.store8 (global.get $out) (local.get $c))
    (global.set $out (i32.add (global.get $out) (i32.const 1))))

  ;; putu appends v in decimal: digits are produced last first, so count
  ;; them, then fill the output from the right.
  (func $putu (param $v i32)
    (local $n i32) (local $t i32) (local $p i32)
    (local.set $t (local.get $v))
    (loop $count
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (local.set $t (i32.div_u (local.get $t) (i32.const 10)))
      (br_if $count (local.get $t)))
    (global.set $out (i32.add (global.get $out) (local.get $n)))
    (local.set $p (global.get $out))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p)
        (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $digit (local.get $v))))

  ;; read_config reads stdin to EOF and returns its size, or -1 on error.
  (func $read_config (result i32)
    (local $total i32) (local $n i32)
    (loop $more
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 1024))
      (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16))
        (then (return (i32.const -1))))
      (local.set $n (i32.load (i32.const 16)))
      (local.set $total (i32.add (local.get $total) (local.get $n)))
      (br_if $more (local.get $n)))
    (local.get $total))

  ;; flush writes the output to stdout, looping over short writes.
  (func $flush (result i32)
    (local $p i32)
    (local.set $p (i32.const 4096))
    (block $done
      (loop $more
        (br_if $done (i32.ge_u (local.get $p) (global.get $out)))
        (i32.store (i32.const 0) (local.get $p))
        (i32.store (i32.const 4) (i32.sub (global.get $out) (local.get $p)))
        (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16))
          (then (return (i32.const 1))))
        (local.set $p (i32.add (local.get $p) (i32.load (i32.const 16))))
        (br $more)))
    (i32.const 0))

  (func (export "pushagent_collect") (result i32)
    (local $size i32) (local $i i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (global.set $out (i32.const 4096))
    (local.set $size (call $read_config))
    (if (i32.lt_s (local.get $size) (i32.const 0))
      (then (return (i32.const 1))))

    (call $put (i32.const 256) (i32.const 107))
    (loop $series
      (call $put (i32.const 384) (i32.const 21))
      (call $putu (local.get $i))
      (call $put (i32.const 416) (i32.const 3))
      (call $putu (i32.mul (local.get $i) (i32.const 10)))
      (call $putc (i32.const 10))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $series (i32.lt_u (local.get $i) (i32.const 20))))
    (call $put (i32.const 448) (i32.const 144))
    (call $putu (global.get $calls))
    (call $putc (i32.const 10))
    (call $put (i32.const 640) (i32.const 148))
    (call $putu (local.get $size))
    (call $putc (i32.const 10))

    (call $log (i32.const 0) (i32.const 800) (i32.const 22))
    (call $flush)))
