;; Active data segments that Instrument may merge, and some it must not:
;; memory after instantiation must be the same byte for byte.
(module
  (memory (export "memory") 1)
  (func (export "f"))
  ;; 0-2: neighbours 0, 10 and 64 bytes apart: one segment.
  (data (i32.const 100) "aaaa")
  (data (i32.const 114) "bbbb")
  (data (i32.const 182) "cccc")
  ;; 3: 65 bytes after the last: a new segment.
  (data (i32.const 251) "dddd")
  ;; 4: wider than its successor's start: 5 overwrites part of it, as
  ;; before.
  (data (i32.const 400) "eeeeeeeeeeeeeeee")
  ;; 5: starts inside 4: not merged, applied after it.
  (data (i32.const 408) "ff")
  ;; 6: a gap of 2 after 5, but 4 reaches into the gap [410, 412): filling
  ;; it with zeros would erase 4's bytes there, so not merged.
  (data (i32.const 412) "gg")
  ;; 7: below everything so far.
  (data (i32.const 0) "hh")
  ;; 8: 2 bytes after 7, and no segment covers the gap [2, 4): merged,
  ;; although 0-6 lie above it.
  (data (i32.const 4) "ii"))
