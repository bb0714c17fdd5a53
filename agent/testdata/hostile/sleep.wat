;; Build: wat2wasm sleep.wat -o sleep.wasm   (hostile_test.go does this)
;; Sleeps for 120 s in one WASI poll_oneoff call with a relative clock
;; subscription, the call C's sleep() and Go's time.Sleep end up in. A host
;; whose sleep ignores the run's deadline is held for two minutes.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    ;; subscription at 0 (48 bytes): userdata 0, tag 0 (clock),
    ;; clock id 1 (monotonic) at 16, timeout 120e9 ns at 24, precision
    ;; at 32, flags 0 (relative) at 40. The event goes to 64, the count
    ;; of events to 96.
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 120000000000))
    (i64.store (i32.const 32) (i64.const 0))
    (i32.store16 (i32.const 40) (i32.const 0))
    (drop (call $poll_oneoff (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 96)))))
