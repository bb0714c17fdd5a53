;; Functions that terminate, with loops in every position the rewrite
;; touches and instructions from each proposal Instrument decodes; the
;; tests compare their results before and after instrumenting.
(module
  (type $pair (func (param i32 i32) (result i32 i32)))
  (type $acc (func (param i64) (result i64)))
  (memory 1)
  (table $t 2 funcref)
  (global $calls (mut i32) (i32.const 0))
  (global $base i32 (i32.const 16))
  (data $hello "hello, interrupt")
  (elem declare func $fib)

  ;; Sum of 1..n in a loop.
  (func (export "sum") (param $n i32) (result i64)
    (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $n))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $acc))

  ;; Collatz steps: a loop around an if/else.
  (func (export "collatz") (param $n i32) (result i32)
    (local $steps i32)
    (loop $again
      (if (i32.gt_u (local.get $n) (i32.const 1))
        (then
          (if (i32.and (local.get $n) (i32.const 1))
            (then (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 3)) (i32.const 1))))
            (else (local.set $n (i32.shr_u (local.get $n) (i32.const 1)))))
          (local.set $steps (i32.add (local.get $steps) (i32.const 1)))
          (br $again))))
    (local.get $steps))

  ;; br_table inside a loop: classify 0..n-1 and weigh the classes.
  (func (export "classify") (param $n i32) (result i32)
    (local $i i32) (local $r i32)
    (loop $each
      (block $other
        (block $two
          (block $one
            (block $zero
              (br_table $zero $one $two $other (i32.rem_u (local.get $i) (i32.const 5))))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $other))
          (local.set $r (i32.add (local.get $r) (i32.const 10)))
          (br $other))
        (local.set $r (i32.add (local.get $r) (i32.const 100))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $r))

  ;; Multi-value: a block typed by index, and a loop with parameters and
  ;; results, whose values are on the stack when the check runs.
  (func (export "divmod") (param $a i32) (param $b i32) (result i32 i32)
    (local.get $a) (local.get $b)
    (block (type $pair)
      (local.set $b) (local.set $a)
      (i32.div_u (local.get $a) (local.get $b))
      (i32.rem_u (local.get $a) (local.get $b))))
  (func (export "countdown") (param $n i64) (result i64)
    (local.get $n)
    (loop $l (type $acc)
      (i64.sub (i64.const 1))
      (local.tee $n)
      (local.get $n)
      (br_if $l (i64.ne (i64.const 0)))))

  ;; Nested loops.
  (func (export "nested") (param $n i32) (result i32)
    (local $i i32) (local $j i32) (local $c i32)
    (loop $outer
      (local.set $j (i32.const 0))
      (loop $inner
        (local.set $c (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $j))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $j) (local.get $n))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $c))

  ;; Recursion, a global the module sets itself, tables and references.
  (func $fib (param $n i32) (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add
        (call $fib (i32.sub (local.get $n) (i32.const 1)))
        (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "fib") (param $n i32) (result i32)
    (table.set $t (i32.const 1) (ref.func $fib))
    (select (result i32)
      (call_indirect $t (param i32) (result i32) (local.get $n) (i32.const 1))
      (i32.const -1)
      (i32.eqz (ref.is_null (table.get $t (i32.const 1))))))
  (func (export "calls") (result i32) (global.get $calls))

  ;; Bulk memory with a data count section, saturating truncation and sign
  ;; extension.
  (func (export "bulk") (result i32)
    (memory.init $hello (global.get $base) (i32.const 0) (i32.const 16))
    (memory.copy (i32.const 64) (global.get $base) (i32.const 16))
    (memory.fill (i32.const 70) (i32.const 0x2a) (i32.const 2))
    (data.drop $hello)
    (i32.add
      (i32.add (i32.load8_u (i32.const 64)) (i32.load16_u offset=6 (i32.const 64)))
      (i32.add
        (i32.trunc_sat_f32_s (f32.const 1e20))
        (i32.extend8_s (i32.const 0xff)))))

  ;; Bulk memory and tables in a function with parameters and locals of
  ;; several types: the local that Instrument adds for the operations'
  ;; lengths goes after them all and must not disturb them.
  (func (export "bulklocals") (param $a i32) (param $b i64) (result i64)
    (local $x f64) (local $y i32) (local $z i64) (local $v v128)
    (local.set $x (f64.convert_i64_s (local.get $b)))
    (local.set $y (i32.add (local.get $a) (i32.const 3)))
    (local.set $z (i64.mul (local.get $b) (i64.const 7)))
    (memory.fill (i32.const 256) (local.get $y) (i32.const 32))
    (local.set $v (v128.load (i32.const 256)))
    (memory.copy (i32.const 512) (i32.const 256) (local.get $a))
    (table.fill $t (i32.const 0) (ref.null func) (i32.const 2))
    (i64.add
      (i64.add (local.get $z) (i64.trunc_f64_s (local.get $x)))
      (i64.add
        (i64.extend_i32_u (i32.load8_u (i32.const 515)))
        (i64x2.extract_lane 1 (local.get $v)))))

  ;; SIMD: a constant, a shuffle, lanes, an opcode above 0x7f (i64x2.eq)
  ;; and a vector load in a loop.
  (func (export "simd") (param $n i32) (result i32)
    (local $v v128) (local $i i32)
    (v128.store (i32.const 128) (v128.const i32x4 1 2 3 4))
    (loop $l
      (local.set $v (i32x4.add (local.get $v) (v128.load (i32.const 128))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.set $v (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $v) (local.get $v)))
    (i32.add
      (i32.add
        (i32x4.extract_lane 0 (local.get $v))
        (i32x4.extract_lane 3 (local.get $v)))
      (i32.wrap_i64 (i64x2.extract_lane 0 (i64x2.eq (local.get $v) (local.get $v)))))))
