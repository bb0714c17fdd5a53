//! example: a pushagent collector plugin in Rust (ABI v1, docs/plugin-abi.md),
//! with the standard library only, so plain `rustc` builds it — no cargo, no
//! crates.
//!
//! It reads its config, a JSON object such as {"name": "orders", "count": 20},
//! on stdin and prints, in the Prometheus text format on stdout:
//!
//!   rust_example_value{i="0"} 0 ... rust_example_value{i="<count-1>"} <(count-1)/2>
//!   rust_example_config{name="<name>"} <count>
//!
//! Defaults: name "rust", count 20. Unknown keys and wrong types are errors
//! (message on stderr, failure), as in the Go SDK.
//!
//! Built as a binary it is a WASI command (`main`); built as a cdylib it is a
//! reactor whose exported `pushagent_collect` the agent calls once per run
//! on a warm instance. Both share `collect`, which keeps nothing between
//! runs.

use std::fmt::Write as _;
use std::io::{Read, Write};

const MAX_CONFIG: u64 = 4096; // bytes of config we accept
const MAX_COUNT: u64 = 10_000; // series in rust_example_value

struct Config {
    name: String,
    count: u64,
}

/// A cursor over the config bytes.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    /// eat skips white space and consumes c if it comes next.
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            return true;
        }
        false
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.s.get(self.i..self.i + 4).ok_or("bad \\u escape")?;
        let text = std::str::from_utf8(digits).map_err(|_| "bad \\u escape")?;
        self.i += 4;
        u32::from_str_radix(text, 16).map_err(|_| "bad \\u escape".to_string())
    }

    fn string(&mut self) -> Result<String, String> {
        if !self.eat(b'"') {
            return Err("expected a string".into());
        }
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.i).ok_or("unterminated string")?;
            self.i += 1;
            match c {
                b'"' => break,
                0..=0x1f => return Err("control character in string".into()),
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or("unterminated string")?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err("unpaired surrogate".into());
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err("unpaired surrogate".into());
                                }
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            }
                            char::from_u32(cp).ok_or("unpaired surrogate")?
                        }
                        _ => return Err("bad escape in string".into()),
                    };
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| "string is not UTF-8".to_string())
    }

    fn count(&mut self) -> Result<u64, String> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        let whole = matches!(self.s.get(self.i), None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b'}'));
        let n: u64 = std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .filter(|_| whole)
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| format!("count must be a whole number from 0 to {}", MAX_COUNT))?;
        if n > MAX_COUNT {
            return Err(format!("count must be at most {}", MAX_COUNT));
        }
        Ok(n)
    }
}

fn parse(config: &[u8]) -> Result<Config, String> {
    let mut cfg = Config { name: "rust".into(), count: 20 };
    let mut p = Parser { s: config, i: 0 };
    if !p.eat(b'{') {
        return Err("config must be a JSON object".into());
    }
    if !p.eat(b'}') {
        loop {
            let key = p.string()?;
            if !p.eat(b':') {
                return Err("expected ':' after a key".into());
            }
            match key.as_str() {
                "name" => cfg.name = p.string()?,
                "count" => cfg.count = p.count()?,
                _ => return Err(format!("unknown key {:?} (want name, count)", key)),
            }
            if !p.eat(b',') {
                break;
            }
        }
        if !p.eat(b'}') {
            return Err("expected ',' or '}'".into());
        }
    }
    p.ws();
    if p.i != config.len() {
        return Err("trailing data after the config object".into());
    }
    Ok(cfg)
}

/// render writes the exposition for cfg.
fn render(cfg: &Config) -> String {
    let mut out = String::with_capacity(64 + 32 * cfg.count as usize);
    out.push_str("# HELP rust_example_value Example gauge family: series i has the value i/2.\n");
    out.push_str("# TYPE rust_example_value gauge\n");
    for i in 0..cfg.count {
        let _ = writeln!(out, "rust_example_value{{i=\"{}\"}} {}", i, i as f64 / 2.0);
    }
    out.push_str("# HELP rust_example_config The config echoed: name as a label, count as the value.\n");
    out.push_str("# TYPE rust_example_config gauge\n");
    out.push_str("rust_example_config{name=\"");
    for c in cfg.name.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    let _ = writeln!(out, "\"}} {}", cfg.count);
    out
}

/// collect is one run: config on stdin, metrics on stdout; 0 is success.
fn collect() -> i32 {
    let result = (|| -> Result<(), String> {
        let mut config = Vec::new();
        // To EOF: a reactor gets a fresh stdin per call.
        std::io::stdin()
            .lock()
            .take(MAX_CONFIG + 1)
            .read_to_end(&mut config)
            .map_err(|e| format!("read config: {}", e))?;
        if config.len() as u64 > MAX_CONFIG {
            return Err(format!("config longer than {} bytes", MAX_CONFIG));
        }
        let cfg = parse(&config).map_err(|e| format!("config: {}", e))?;
        let mut stdout = std::io::stdout().lock();
        // Flush before returning: a reactor's stdout is rebound after the call.
        stdout
            .write_all(render(&cfg).as_bytes())
            .and_then(|_| stdout.flush())
            .map_err(|e| format!("write metrics: {}", e))
    })();
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rust example: {}", e);
            1
        }
    }
}

/// The reactor's entry point (cdylib build).
#[no_mangle]
pub extern "C" fn pushagent_collect() -> i32 {
    collect()
}

/// The command's entry point (bin build).
#[allow(dead_code)]
fn main() {
    std::process::exit(collect());
}
