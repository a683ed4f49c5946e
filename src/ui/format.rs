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

/// "1 user", "2 users" (the count grouped as [`count`] does).
pub fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// A span in words: "42 s", "3 min 5 s", "2 h 10 min".
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_counts() {
        assert_eq!(super::count(48_211), "48\u{202f}211");
        assert_eq!(super::count(7), "7");
    }

    #[test]
    fn plurals_and_durations_read_as_words() {
        assert_eq!(super::plural(1, "user", "users"), "1 user");
        assert_eq!(super::plural(0, "user", "users"), "0 users");
        assert_eq!(super::duration(42_000), "42 s");
        assert_eq!(super::duration(185_000), "3 min 5 s");
        assert_eq!(super::duration(7_800_000), "2 h 10 min");
    }
}
