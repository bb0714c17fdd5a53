;; flags: --no-check
;; An element segment offset reads global 0 of none.
(module
  (table 1 funcref)
  (func $f)
  (elem (global.get 0) func $f))
