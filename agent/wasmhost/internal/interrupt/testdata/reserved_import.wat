;; Imports a global under the reserved name.
(module
  (import "env" "pushagent_interrupt" (global (mut i32)))
  (func (export "f")))
