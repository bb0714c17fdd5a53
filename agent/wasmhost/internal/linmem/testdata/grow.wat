;; grow.wat grows its memory the way a plugin's allocator does, in steps, and
;; touches every 4 KiB of each step so that the pages are really resident.
;; The tests compile it with wat2wasm from wabt (Debian package wabt):
;;
;;   wat2wasm testdata/grow.wat -o grow.wasm
(module
  ;; No declared maximum: wazero passes the runtime's memory limit as max.
  (memory (export "memory") 1)

  ;; grow_to grows by $step pages, the last step only as far as $target,
  ;; until the memory has at least $target pages, writing 1 at every 4 KiB
  ;; of each new step. It returns the final size in pages, or -1 as soon as
  ;; a memory.grow fails.
  (func (export "grow_to") (param $target i32) (param $step i32) (result i32)
    (local $addr i32)
    (local $end i32)
    (block $done
      (loop $more
        (br_if $done (i32.ge_u (memory.size) (local.get $target)))
        (local.set $addr (memory.grow
          (select
            (local.get $step)
            (i32.sub (local.get $target) (memory.size))
            (i32.lt_u (local.get $step) (i32.sub (local.get $target) (memory.size))))))
        (if (i32.eq (local.get $addr) (i32.const -1))
          (then (return (i32.const -1))))
        (local.set $addr (i32.shl (local.get $addr) (i32.const 16)))
        (local.set $end (i32.shl (memory.size) (i32.const 16)))
        (loop $touch
          (i32.store8 (local.get $addr) (i32.const 1))
          (local.set $addr (i32.add (local.get $addr) (i32.const 4096)))
          (br_if $touch (i32.lt_u (local.get $addr) (local.get $end))))
        (br $more)))
    (memory.size))

  ;; grow is memory.grow itself: the old size in pages, or -1.
  (func (export "grow") (param $delta i32) (result i32)
    (memory.grow (local.get $delta)))

  ;; touched counts the 4 KiB marks that read 1, over the whole memory, so
  ;; that the test sees the guest's writes survived every grow.
  (func (export "touched") (result i32)
    (local $addr i32)
    (local $end i32)
    (local $n i32)
    (local.set $end (i32.shl (memory.size) (i32.const 16)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $addr) (local.get $end)))
        (if (i32.eq (i32.load8_u (local.get $addr)) (i32.const 1))
          (then (local.set $n (i32.add (local.get $n) (i32.const 1)))))
        (local.set $addr (i32.add (local.get $addr) (i32.const 4096)))
        (br $next)))
    (local.get $n))

  ;; spin never returns: only the context ending the call stops it.
  (func (export "spin")
    (loop $forever (br $forever))))
