;; Build: wat2wasm reactor_loop.wat -o reactor_loop.wasm   (hostile_test.go does this)
;; A reactor whose pushagent_collect spins forever: the timed-out instance
;; must be dropped, not returned to the pool.
(module
  (memory (export "memory") 1)
  (func (export "_initialize"))
  (func (export "pushagent_collect") (result i32)
    (loop $forever (br $forever))
    (i32.const 0)))
