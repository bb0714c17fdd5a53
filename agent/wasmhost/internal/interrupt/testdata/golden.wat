;; The input of TestInstrumentGolden; golden.instrumented.wat is what
;; Instrument must turn it into, byte for byte.
(module
  (import "env" "g" (global $g i32))
  (table 1 funcref)
  (memory 1)
  (global $h (mut i32) (i32.const 0))
  (func $f (export "f") (param $n i32) (result i32)
    (local $i i32)
    (loop $outer (result i32)
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (loop $inner
        (br_if $inner (i32.eqz (global.get $h))))
      (br_if $outer (i32.lt_u (local.get $i) (local.get $n)))
      (local.get $i)))
  (func $fill (export "fill") (param $n i32)
    (memory.fill (i32.const 0) (i32.const 0) (local.get $n))
    (table.fill 0 (i32.const 0) (ref.null func) (i32.const 1))))
