;; flags: --no-check
;; Exports global 1 of one: after the rewrite it would export the flag.
(module
  (global (mut i32) (i32.const 0))
  (export "g" (global 1)))
