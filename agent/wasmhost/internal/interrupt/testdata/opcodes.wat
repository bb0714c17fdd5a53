;; flags: --enable-threads --enable-tail-call
;; At least one instruction with each kind of immediate that Instrument
;; decodes, each kind of element and data segment, and each import kind it
;; accepts, so that the tests and the fuzzer's seeds cover the decoder.
(module
  (type $v (func))
  (type $ii (func (param i32) (result i32)))
  (import "env" "f" (func $imported (type $v)))
  (import "env" "t" (table $it 1 funcref))
  (import "env" "g" (global $ig i32))
  (memory $m 1 1 shared)
  (table $t 4 funcref)
  (table $x 2 externref)
  (global $fg funcref (ref.func $leaf))
  (global $mg (mut i64) (i64.const -1))
  (global $vg v128 (v128.const i64x2 1 -1))
  (global $ff f32 (f32.const 1.5))
  (global $fd f64 (f64.const -2.25))

  (elem (i32.const 0) $leaf)                              ;; flags 0
  (elem $p func $leaf $tail)                              ;; flags 1
  (elem (table $t) (i32.const 0) func $leaf)              ;; flags 2
  (elem declare func $ii_fn)                              ;; flags 3
  (elem (i32.const 1) funcref (ref.func $leaf) (ref.null func)) ;; flags 4
  (elem $pe funcref (ref.func $leaf) (ref.null func))     ;; flags 5
  (elem (table $t) (global.get $ig) funcref (ref.null func)) ;; flags 6
  (elem declare funcref (ref.func $tail) (ref.null func))  ;; flags 7
  (data (global.get $ig) "active")
  (data $pd "passive")

  (func $leaf)
  (func $ii_fn (type $ii) (local.get 0))
  (func $tail (param i32) (result i32)
    (if (i32.eqz (local.get 0)) (then (return (i32.const 7))))
    (return_call_indirect $t (type $ii) (i32.sub (local.get 0) (i32.const 1)) (i32.const 3)))
  (func $tailcall (result i32)
    (return_call $tail (i32.const 3)))

  (func (export "everything") (param $p i32) (result i32)
    (local $l i64) (local $f f32) (local $d f64) (local $v v128) (local $r funcref) (local $e externref)
    ;; control
    (block $b
      (drop
        (loop $lp (result i32)
          (br_if $b (i32.eqz (local.get $p)))
          (br_table $b $lp $b (local.get $p))
          (i32.const 0))))
    (drop (if (result i64) (local.get $p) (then (i64.const 1)) (else (i64.const 2))))
    (call $imported)
    (call_indirect $it (type $v) (i32.const 0))
    (nop)
    ;; variables and references
    (local.set $r (global.get $fg))
    (global.set $mg (i64.extend_i32_s (local.get $p)))
    (local.set $e (table.get $x (i32.const 0)))
    (table.set $x (i32.const 1) (local.get $e))
    (drop (select (result funcref) (local.get $r) (ref.null func) (local.get $p)))
    (drop (select (local.get $p) (i32.const 1) (i32.const 0)))
    (drop (ref.is_null (ref.func $leaf)))
    (drop (ref.is_null (ref.null extern)))
    ;; memory, numeric, conversions
    (i32.store offset=4 align=2 (i32.const 0) (local.get $p))
    (i64.store32 (i32.const 8) (i64.load8_s (i32.const 4)))
    (local.set $f (f32.convert_i32_u (i32.load16_s (i32.const 4))))
    (local.set $d (f64.promote_f32 (f32.sqrt (local.get $f))))
    (local.set $l (i64.trunc_sat_f64_u (local.get $d)))
    (drop (i64.extend32_s (i64.rotl (local.get $l) (i64.const 3))))
    (drop (memory.grow (i32.const 0)))
    (drop (memory.size))
    (drop (f64.copysign (f64.const 1) (f64.reinterpret_i64 (local.get $l))))
    ;; bulk memory and tables
    (memory.init $pd (i32.const 16) (i32.const 0) (i32.const 7))
    (data.drop $pd)
    (memory.copy (i32.const 32) (i32.const 16) (i32.const 7))
    (memory.fill (i32.const 40) (i32.const 0) (i32.const 4))
    (table.init $t $p (i32.const 2) (i32.const 0) (i32.const 2))
    (elem.drop $pe)
    (table.copy $t $t (i32.const 0) (i32.const 1) (i32.const 1))
    (drop (table.grow $t (ref.null func) (i32.const 1)))
    (drop (table.size $x))
    (table.fill $t (i32.const 0) (ref.func $leaf) (i32.const 1))
    (table.set $t (i32.const 3) (ref.func $tail))
    ;; SIMD: memory, lanes, constants, shuffle, a two-byte opcode
    (local.set $v (v128.load offset=16 (i32.const 0)))
    (local.set $v (v128.load32_lane 2 (i32.const 0) (local.get $v)))
    (v128.store64_lane 1 (i32.const 48) (local.get $v))
    (local.set $v (v128.load64_zero (i32.const 0)))
    (local.set $v (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 (local.get $v) (global.get $vg)))
    (local.set $v (i16x8.replace_lane 7 (local.get $v) (i32.const 9)))
    (local.set $v (f64x2.promote_low_f32x4 (i32x4.trunc_sat_f64x2_u_zero (local.get $v))))
    (drop (i64x2.all_true (i64x2.abs (local.get $v))))
    ;; threads
    (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1)))
    (drop (i64.atomic.rmw32.cmpxchg_u offset=8 (i32.const 0) (i64.const 0) (i64.const 1)))
    (i32.atomic.store8 (i32.const 3) (i32.const 1))
    (drop (memory.atomic.notify (i32.const 0) (i32.const 1)))
    (atomic.fence)
    (i32.add (call $tailcall) (i32.atomic.load (i32.const 0)))))
