;; flags: --no-check
;; An element initialiser expression reads global 1 of one.
(module
  (global funcref (ref.null func))
  (table 1 funcref)
  (elem (i32.const 0) funcref (global.get 1)))
