;; Build: wat2wasm loop.wat -o loop.wasm   (hostile_test.go does this)
;; Spins forever without ever calling the host.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $forever (br $forever))))
