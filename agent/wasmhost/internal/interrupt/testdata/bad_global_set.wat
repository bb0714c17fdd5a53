;; flags: --no-check
;; Writes global 1 of a module that has one global: it would clear the flag.
(module
  (global (mut i32) (i32.const 0))
  (func (export "f") (global.set 1 (i32.const 0))))
