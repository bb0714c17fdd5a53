;; Build: wat2wasm badimport.wat -o badimport.wasm   (hostile_test.go does this)
;; Imports functions the host does not provide: refused at load.
(module
  (import "env" "steal_secret" (func (result i32)))
  (import "wasi_snapshot_preview1" "sock_open" (func (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")))
