;; Build: wat2wasm hostcall_loop.wat -o hostcall_loop.wasm   (hostile_test.go does this)
;; Hands its stdin (an http_request JSON) to pushagent_v1.http_request,
;; again and again, ignoring every result: against a server that never
;; answers it spends its whole run blocked inside the host call.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "pushagent_v1" "http_request" (func $http_request (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $n i32)
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 4096))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $n (i32.load (i32.const 8)))
    (loop $again
      (drop (call $http_request (i32.const 1024) (local.get $n)))
      (br $again))))
