//! Generated JSON values for property tests of code that must write what serde_json writes
//! (this crate's, and the crates whose layouts use it: feature `test-support`).

use serde_json::{json, Map, Value};

/// A small deterministic generator (xorshift64*): the same cases on every run.
pub struct JsonGen(pub u64);

impl JsonGen {
    /// The next 64 random bits.
    pub fn bits(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.bits() % n
    }

    /// A string of the characters that the escaping treats differently, and long plain runs between them.
    pub fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "\"",
            "\\",
            "\n",
            "\r",
            "\t",
            "\u{8}",
            "\u{c}",
            "\u{0}",
            "\u{1}",
            "\u{1f}",
            "\u{7f}",
            "/",
            "é",
            "\u{1F600}",
            "\u{2028}",
            "日本",
            " ",
            "  \"x\": ",
            "\\n",
            "\\\"",
            "{[",
        ];
        let mut s = String::new();
        for _ in 0..self.below(12) {
            if self.below(3) == 0 {
                let run = self.below(20) as usize;
                s.extend(std::iter::repeat_n('a', run));
            } else {
                s.push_str(PIECES[self.below(PIECES.len() as u64) as usize]);
            }
        }
        s
    }

    /// A number of every kind serde_json writes differently (large, negative, fractional).
    pub fn number(&mut self) -> Value {
        match self.below(7) {
            0 => json!(self.bits()),
            1 => json!(self.bits() as i64),
            2 => json!(i64::MIN),
            3 => json!(self.below(1000)),
            4 => json!((self.bits() as f64) / 7.0),
            5 => json!(-0.5e-300),
            _ => json!(1.5e300),
        }
    }

    /// A value of at most `4 - depth` levels of arrays and objects.
    pub fn value(&mut self, depth: u32) -> Value {
        let leaf = depth >= 4 || self.below(3) == 0;
        match (leaf, self.below(6)) {
            (true, 0) => Value::Null,
            (true, 1) => Value::Bool(self.below(2) == 0),
            (true, 2 | 3) => self.number(),
            (true, _) => Value::String(self.string()),
            (false, 0..=2) => {
                let n = self.below(5);
                Value::Array((0..n).map(|_| self.value(depth + 1)).collect())
            }
            (false, _) => {
                let mut m = Map::new();
                for _ in 0..self.below(6) {
                    let k = self.string();
                    m.insert(k, self.value(depth + 1));
                }
                Value::Object(m)
            }
        }
    }
}
