;; flags: --enable-exceptions
;; Exception handling (a tag section and throw) is refused.
(module
  (tag $e (param i32))
  (func (export "f") (throw $e (i32.const 1))))
