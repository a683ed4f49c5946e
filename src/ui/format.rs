//! Formatting shared by pages (compiles for the browser too, so no `time` crate).

pub use crate::domain::time::utc;

/// 48211 → "48 211" (narrow no-break space grouping, as in the product brief).
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_counts() {
        assert_eq!(super::count(48_211), "48\u{202f}211");
        assert_eq!(super::count(7), "7");
    }
}
