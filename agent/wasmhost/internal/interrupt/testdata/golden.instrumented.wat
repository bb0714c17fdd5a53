;; golden.wat after Instrument. The flag is global 2 (one imported, one
;; defined before it), exported last; the budget is global 3, not
;; exported, and starts full (1024). A check opens each function body,
;; after its locals, and each loop body; it spends one unit and, when the
;; budget is spent, leaves for Go (memory.grow 0), traps if the flag is
;; set and refills the budget. $fill, which has bulk operations, gets a
;; local after its own for their length, and each bulk operation spends
;; 1 + length>>16 (memory) or 1 + length>>13 (table) first.
(module
  (import "env" "g" (global $g i32))
  (table 1 funcref)
  (memory 1)
  (global $h (mut i32) (i32.const 0))
  (global $flag (mut i32) (i32.const 0))
  (global $budget (mut i32) (i32.const 1024))
  (func $f (export "f") (param $n i32) (result i32)
    (local $i i32)
    global.get $budget
    i32.const 1
    i32.sub
    global.set $budget
    global.get $budget
    i32.const 0
    i32.le_s
    if
      i32.const 0
      memory.grow
      drop
      global.get $flag
      if
        unreachable
      end
      i32.const 1024
      global.set $budget
    end
    loop $outer (result i32)
      global.get $budget
      i32.const 1
      i32.sub
      global.set $budget
      global.get $budget
      i32.const 0
      i32.le_s
      if
        i32.const 0
        memory.grow
        drop
        global.get $flag
        if
          unreachable
        end
        i32.const 1024
        global.set $budget
      end
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      loop $inner
        global.get $budget
        i32.const 1
        i32.sub
        global.set $budget
        global.get $budget
        i32.const 0
        i32.le_s
        if
          i32.const 0
          memory.grow
          drop
          global.get $flag
          if
            unreachable
          end
          i32.const 1024
          global.set $budget
        end
        (br_if $inner (i32.eqz (global.get $h)))
      end
      (br_if $outer (i32.lt_u (local.get $i) (local.get $n)))
      (local.get $i)
    end)
  (func $fill (export "fill") (param $n i32)
    (local $len i32)
    global.get $budget
    i32.const 1
    i32.sub
    global.set $budget
    global.get $budget
    i32.const 0
    i32.le_s
    if
      i32.const 0
      memory.grow
      drop
      global.get $flag
      if
        unreachable
      end
      i32.const 1024
      global.set $budget
    end
    i32.const 0
    i32.const 0
    local.get $n
    local.tee $len
    global.get $budget
    local.get $len
    i32.const 16
    i32.shr_u
    i32.const 1
    i32.add
    i32.sub
    global.set $budget
    global.get $budget
    i32.const 0
    i32.le_s
    if
      i32.const 0
      memory.grow
      drop
      global.get $flag
      if
        unreachable
      end
      i32.const 1024
      global.set $budget
    end
    memory.fill
    i32.const 0
    ref.null func
    i32.const 1
    local.tee $len
    global.get $budget
    local.get $len
    i32.const 13
    i32.shr_u
    i32.const 1
    i32.add
    i32.sub
    global.set $budget
    global.get $budget
    i32.const 0
    i32.le_s
    if
      i32.const 0
      memory.grow
      drop
      global.get $flag
      if
        unreachable
      end
      i32.const 1024
      global.set $budget
    end
    table.fill 0)
  (export "pushagent_interrupt" (global $flag)))
