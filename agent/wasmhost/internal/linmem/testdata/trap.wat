;; trap.wat traps right after a host call returns, without passing a
;; function entry or loop header where wazero would notice that the module
;; was closed meanwhile. The tests compile it with wat2wasm from wabt:
;;
;;   wat2wasm testdata/trap.wat -o trap.wasm
(module
  ;; wait ends the call's context and returns once wazero has marked the
  ;; module closed.
  (import "env" "wait" (func $wait))
  (memory (export "memory") 16)
  (func (export "run")
    (call $wait)
    unreachable))
