//! A line diff of two texts, for the conflict prompt's "Compare" (the buffer against the
//! disk copy). Longest common subsequence over lines, after trimming the common head and
//! tail; past [`LARGEST_TABLE`] cells of the table it gives up on alignment and shows the
//! middle as removed then added, which is still correct, only less precise.

use crate::api::DiffLine;

/// The most LCS table cells computed (about 16 MB of `u32`).
pub const LARGEST_TABLE: usize = 4_000_000;

/// The lines of `old` and `new` as `context`, `remove` (only in `old`) and `add` (only in
/// `new`), with their line numbers, in order.
pub fn line_diff(old: &str, new: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a_mid, b_mid) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let line = |kind: &str, text: &str, old: Option<usize>, new: Option<usize>| DiffLine {
        kind: kind.to_owned(),
        text: text.to_owned(),
        old_line: old.map(|n| n as u32 + 1),
        new_line: new.map(|n| n as u32 + 1),
    };
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    for (i, text) in a[..head].iter().enumerate() {
        out.push(line("context", text, Some(i), Some(i)));
    }
    let (n, m) = (a_mid.len(), b_mid.len());
    if n.saturating_mul(m) > LARGEST_TABLE {
        for (i, text) in a_mid.iter().enumerate() {
            out.push(line("remove", text, Some(head + i), None));
        }
        for (j, text) in b_mid.iter().enumerate() {
            out.push(line("add", text, None, Some(head + j)));
        }
    } else {
        // lcs[i][j]: the longest common subsequence of a_mid[i..] and b_mid[j..].
        let width = m + 1;
        let mut lcs = vec![0u32; (n + 1) * width];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * width + j] = if a_mid[i] == b_mid[j] {
                    lcs[(i + 1) * width + j + 1] + 1
                } else {
                    lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && a_mid[i] == b_mid[j] {
                out.push(line("context", a_mid[i], Some(head + i), Some(head + j)));
                i += 1;
                j += 1;
            } else if i < n && (j == m || lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
                out.push(line("remove", a_mid[i], Some(head + i), None));
                i += 1;
            } else {
                out.push(line("add", b_mid[j], None, Some(head + j)));
                j += 1;
            }
        }
    }
    for k in 0..tail {
        let (i, j) = (a.len() - tail + k, b.len() - tail + k);
        out.push(line("context", a[i], Some(i), Some(j)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(old: &str, new: &str) -> Vec<String> {
        line_diff(old, new)
            .into_iter()
            .map(|l| format!("{}{}", &l.kind[..1], l.text))
            .collect()
    }

    #[test]
    fn changed_added_and_removed_lines() {
        assert_eq!(
            kinds("a\nb\nc\nd\n", "a\nB\nc\nd\ne\n"),
            ["ca", "rb", "aB", "cc", "cd", "ae"]
        );
        assert_eq!(kinds("x\n", "x\n"), ["cx"]);
        assert_eq!(kinds("", "new\n"), ["anew"]);
        assert_eq!(kinds("gone\n", ""), ["rgone"]);
    }

    #[test]
    fn line_numbers_follow_each_side() {
        let diff = line_diff("1\n2\n3\n", "1\n3\n4\n");
        let numbered: Vec<(String, Option<u32>, Option<u32>)> = diff
            .into_iter()
            .map(|l| (l.kind, l.old_line, l.new_line))
            .collect();
        assert_eq!(
            numbered,
            [
                ("context".to_owned(), Some(1), Some(1)),
                ("remove".to_owned(), Some(2), None),
                ("context".to_owned(), Some(3), Some(2)),
                ("add".to_owned(), None, Some(3)),
            ]
        );
    }
}
