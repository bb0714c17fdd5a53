;; Functions whose checks and charges TestBudget counts. Each function's
;; entry check costs one unit; the comments give the rest.
(module
  ;; 32 MiB of memory and a table of 2^18 elements, for bulk operations
  ;; of many units.
  (memory 512 512)
  (table $t 262144 funcref)

  ;; n >= 1 iterations: one check per iteration, n + 1 units in all.
  (func (export "count") (param $n i32)
    (loop $l
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))

  ;; Each bulk operation costs 1 + len>>16 units (memory) or 1 + len>>13
  ;; (table), on top of the entry check.
  (func (export "fill") (param $len i32)
    (memory.fill (i32.const 0) (i32.const 0x5a) (local.get $len)))
  (func (export "copy") (param $len i32)
    (memory.copy (i32.const 0) (i32.const 0) (local.get $len)))
  (func (export "table_fill") (param $len i32)
    (table.fill $t (i32.const 0) (ref.null func) (local.get $len)))
  (func (export "table_copy") (param $len i32)
    (table.copy $t $t (i32.const 0) (i32.const 0) (local.get $len))))
