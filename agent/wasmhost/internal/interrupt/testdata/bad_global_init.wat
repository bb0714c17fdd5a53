;; flags: --no-check
;; A global initialiser reads global 2 of two.
(module
  (import "env" "g" (global i32))
  (global i32 (global.get 2)))
