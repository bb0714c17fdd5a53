;; flags: --no-check
;; Reads global 1 of a module that has one global: invalid, and after the
;; rewrite it would read the interrupt flag.
(module
  (global (mut i32) (i32.const 0))
  (func (export "f") (result i32) (global.get 1)))
