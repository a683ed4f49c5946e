//! A bounded line diff for the audit entry of a template change: lines removed (`- `) and added
//! (`+ `), with unchanged lines left out. Templates are small; beyond the bounds the entry says
//! so instead of growing without limit.

/// Lines per side compared; beyond it the part is only reported as changed.
const MAX_LINES: usize = 400;
/// Characters of diff kept per part.
const MAX_CHARS: usize = 4_000;

/// The changed lines from `old` to `new`; empty when they are the same.
pub fn line_diff(old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    if a.len() > MAX_LINES || b.len() > MAX_LINES {
        return format!(
            "(changed: {} lines before, {} after; too long to compare line by line)",
            a.len(),
            b.len()
        );
    }
    // Longest common subsequence table, filled from the end.
    let mut lcs = vec![vec![0u16; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("- {}", a[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    bound(out.join("\n"))
}

fn bound(diff: String) -> String {
    if diff.chars().count() <= MAX_CHARS {
        return diff;
    }
    let kept: String = diff.chars().take(MAX_CHARS).collect();
    let more = diff[kept.len()..].lines().count();
    format!("{kept}\n… ({more} more lines not shown)")
}

#[cfg(test)]
mod tests {
    use super::line_diff;

    #[test]
    fn only_changed_lines_are_listed() {
        assert_eq!(line_diff("a\nb\nc", "a\nb\nc"), "");
        assert_eq!(line_diff("a\nb\nc", "a\nx\nc"), "- b\n+ x");
        assert_eq!(line_diff("a", "a\nb"), "+ b");
    }

    #[test]
    fn a_huge_change_is_bounded() {
        let new = "x\n".repeat(300) + &"y".repeat(10_000);
        let d = line_diff("", &new);
        assert!(d.chars().count() < 4_100, "{}", d.len());
        assert!(d.ends_with("more lines not shown)"));
    }
}
