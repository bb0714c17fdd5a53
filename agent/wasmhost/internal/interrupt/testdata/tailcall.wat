;; flags: --enable-tail-call
;; Endless mutual recursion through tail calls: no loop, no stack growth.
(module
  (import "env" "started" (func $started))
  (memory 1)
  (func $ping (param i32) (result i32)
    (return_call $pong (i32.add (local.get 0) (i32.const 1))))
  (func $pong (param i32) (result i32)
    (return_call_indirect (type $t) (local.get 0) (i32.const 0)))
  (type $t (func (param i32) (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $ping)
  (func (export "tail") (result i32)
    (call $started)
    (return_call $ping (i32.const 0))))
