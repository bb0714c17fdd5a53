;; Imports a function the host does not provide: must be refused at load.
;; Build: wat2wasm badimport.wat -o badimport.wasm   (the tests do this)
(module
  (import "env" "get_secret" (func (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")))
