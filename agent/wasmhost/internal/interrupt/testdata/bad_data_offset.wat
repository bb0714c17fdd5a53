;; flags: --no-check
;; A data segment offset reads global 1 of one.
(module
  (import "env" "g" (global i32))
  (memory 1)
  (data (global.get 1) "x"))
