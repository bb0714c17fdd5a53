;; Build: wat2wasm alloc.wat -o alloc.wasm   (hostile_test.go does this)
;; Allocates page after page, touching each one, until memory.grow is
;; refused; then it aborts the way a C or Rust runtime does on OOM.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (local $page i32)
    (loop $grow
      (local.set $page (memory.grow (i32.const 1)))
      (if (i32.eq (local.get $page) (i32.const -1))
        (then unreachable))
      (i32.store (i32.mul (local.get $page) (i32.const 65536)) (i32.const 1))
      (br $grow))))
