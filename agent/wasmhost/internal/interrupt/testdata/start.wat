;; A start function runs inside instantiation, before the host can reach
;; the flag.
(module
  (func $init)
  (start $init))
