;; Already exports the reserved name, as an instrumented module does.
(module
  (global (export "pushagent_interrupt") (mut i32) (i32.const 0))
  (func (export "f")))
