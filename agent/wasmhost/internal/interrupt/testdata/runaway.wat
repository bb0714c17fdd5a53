;; Plugins that never return. Each export first calls env.started, so that
;; a test sets the interrupt flag while the guest runs.
(module
  (import "env" "started" (func $started))
  (import "env" "tick" (func $tick))
  ;; 32 MiB, for fill_loop.
  (memory 512 512)

  ;; A loop that never calls out: the case close-on-context-done exists for.
  (func (export "spin")
    (call $started)
    (loop $l (br $l)))

  ;; Recursion with no loop: $even and $odd call each other twice per
  ;; level, 2^60 calls at a depth of at most 60, so the stack never
  ;; overflows and only the check at function entry can stop it.
  (func $even (param $d i32) (result i32)
    (if (result i32) (i32.eqz (local.get $d))
      (then (i32.const 0))
      (else
        (i32.add
          (call $odd (i32.sub (local.get $d) (i32.const 1)))
          (call $odd (i32.sub (local.get $d) (i32.const 1)))))))
  (func $odd (param $d i32) (result i32)
    (if (result i32) (i32.eqz (local.get $d))
      (then (i32.const 1))
      (else
        (i32.add
          (call $even (i32.sub (local.get $d) (i32.const 1)))
          (call $even (i32.sub (local.get $d) (i32.const 1)))))))
  (func (export "recurse") (result i32)
    (call $started)
    (call $even (i32.const 60)))

  ;; A loop that calls the host on every iteration.
  (func (export "host_loop")
    (call $started)
    (loop $l
      (call $tick)
      (br $l)))

  ;; A loop whose every iteration fills 16 MiB: few iterations, each one a
  ;; long stretch of compiled code.
  (func (export "fill_loop")
    (call $started)
    (loop $l
      (memory.fill (i32.const 0) (i32.const 0x5a) (i32.const 0x1000000))
      (br $l))))
