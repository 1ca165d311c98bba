//! Each VMS's recent log lines, kept in memory so that the IDE and `starweave logs` can show
//! and search them without a log pipeline (DESIGN.md: "logs and status").
//!
//! Every log event that names a `vms` the engine hosts — request lines, trigger lines, what
//! code functions log through `ctx.log`, failures — is kept, as the JSON line the engine
//! writes to standard error, in that VMS's ring: the newest [`Limits::lines`] lines within
//! [`Limits::bytes`] of text, older ones dropped first. Each line gets a sequence number
//! (per ring, from 1) so that a reader can ask for what came after the last line it saw
//! and learn how many it missed. Lines of every version of the VMS share its ring (each line
//! names its version), so a rollback or a failed new version can be read side by side with
//! the old one.
//!
//! A ring exists from the moment a version of the VMS is loaded until its last version is
//! unloaded; lines of a VMS without a ring are not kept. What goes into a ring is what
//! passes the log filters: a deployment's log level decides which of its events are logged
//! at all. Standard error stays the complete record; the ring is a window onto it.
//!
//! The store is process-wide, like the log subscriber that feeds it: one engine per process.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, RwLock};

use tracing::Level;

/// How much each VMS keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Lines at most.
    pub lines: usize,
    /// Bytes of line text at most; 0 keeps nothing.
    pub bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            lines: 2000,
            bytes: 512 * 1024,
        }
    }
}

/// The process's rings.
static STORE: LazyLock<Store> = LazyLock::new(|| Store {
    rings: RwLock::default(),
    max_lines: AtomicUsize::new(Limits::default().lines),
    max_bytes: AtomicUsize::new(Limits::default().bytes),
});

#[derive(Debug)]
struct Store {
    rings: RwLock<HashMap<String, Arc<Mutex<Ring>>>>,
    /// `Limits` as two atomics, so setting them needs no lock on the logging path.
    max_lines: AtomicUsize,
    max_bytes: AtomicUsize,
}

impl Store {
    fn limits(&self) -> Limits {
        Limits {
            lines: self.max_lines.load(Ordering::Relaxed),
            bytes: self.max_bytes.load(Ordering::Relaxed),
        }
    }
}

/// Sets how much each VMS keeps (from the engine's flags; the defaults otherwise).
pub fn set_limits(limits: Limits) {
    STORE.max_lines.store(limits.lines, Ordering::Relaxed);
    STORE.max_bytes.store(limits.bytes, Ordering::Relaxed);
}

/// Starts keeping `vms`'s lines (when a first version of it is loaded).
pub fn open(vms: &str) {
    let mut rings = STORE.rings.write().unwrap_or_else(PoisonError::into_inner);
    if !rings.contains_key(vms) {
        rings.insert(vms.to_owned(), Arc::default());
    }
}

/// Forgets `vms`'s lines (when its last version is unloaded).
pub fn close(vms: &str) {
    STORE
        .rings
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(vms);
}

/// Where a line's version and trace id are in its text, and when it was logged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    /// Where the version's name is.
    pub version: Range<usize>,
    /// Where the trace id is, when the line has one.
    pub trace: Option<Range<usize>>,
    /// When, in microseconds since the Unix epoch (the line's `timestamp`).
    pub at: i64,
}

/// Whether any line would be kept now: some VMS has a ring and the limits keep something.
/// Lets a logger that writes text skip building the JSON line the rings keep.
pub fn keeping() -> bool {
    let limits = STORE.limits();
    limits.bytes > 0
        && limits.lines > 0
        && !STORE
            .rings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
}

/// Keeps `line` (one JSON object) in `vms`'s ring, when it has one.
pub fn record(vms: &str, marks: &Marks, level: Level, line: &str) {
    let limits = STORE.limits();
    if limits.bytes == 0 || limits.lines == 0 {
        return;
    }
    let ring = STORE
        .rings
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(vms)
        .cloned();
    let Some(ring) = ring else {
        return;
    };
    let line = line.trim_end();
    let span = |range: &Range<usize>| {
        line.get(range.clone())?;
        Some(u32::try_from(range.start).ok()?..u32::try_from(range.end).ok()?)
    };
    let Some(version) = span(&marks.version) else {
        return;
    };
    let entry = Entry {
        seq: 0,
        level: severity(level),
        version,
        trace: marks.trace.as_ref().and_then(span).unwrap_or(0..0),
        at: marks.at,
        line: line.into(),
    };
    ring.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(entry, limits);
}

/// 1 (error) to 5 (trace), as the deployment log levels count.
fn severity(level: Level) -> u8 {
    match level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

#[derive(Debug)]
struct Ring {
    /// Different for every ring of the process and across restarts.
    id: u64,
    entries: VecDeque<Entry>,
    bytes: usize,
    /// The sequence number of the last line kept (0: none yet).
    last: u64,
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    level: u8,
    /// Where the version's name is in `line` (no copy of it per line).
    version: Range<u32>,
    /// Where the trace id is in `line` (empty: none).
    trace: Range<u32>,
    /// When it was logged, in microseconds since the Unix epoch.
    at: i64,
    line: Box<str>,
}

impl Entry {
    fn size(&self) -> usize {
        self.line.len()
    }

    fn version(&self) -> &str {
        self.part(&self.version)
    }

    fn trace(&self) -> &str {
        self.part(&self.trace)
    }

    fn part(&self, range: &Range<u32>) -> &str {
        self.line
            .get(range.start as usize..range.end as usize)
            .unwrap_or_default()
    }
}

impl Default for Ring {
    fn default() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        // The start time in the high bits tells rings of two runs of the engine apart; the
        // id stays below 2^53 so that JavaScript reads it exactly.
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            & ((1 << 33) - 1);
        Ring {
            id: (started << 20) | (NEXT.fetch_add(1, Ordering::Relaxed) & ((1 << 20) - 1)),
            entries: VecDeque::new(),
            bytes: 0,
            last: 0,
        }
    }
}

impl Ring {
    fn push(&mut self, mut entry: Entry, limits: Limits) {
        self.last += 1;
        entry.seq = self.last;
        self.bytes += entry.size();
        self.entries.push_back(entry);
        while self.entries.len() > limits.lines
            || (self.bytes > limits.bytes && self.entries.len() > 1)
        {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= old.size();
        }
    }
}

/// What a reader asks for.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only lines after this sequence number, oldest first (to follow the log); without it,
    /// the newest lines.
    pub after: Option<u64>,
    /// The ring `after` belongs to ([`Page::ring`]); when the VMS's ring is another one, the
    /// read starts from its beginning.
    pub ring: Option<u64>,
    /// Only this version's lines.
    pub version: Option<String>,
    /// Only lines at this severity or above: 1 error, 2 warn, 3 info, 4 debug, 5 trace.
    pub max_severity: Option<u8>,
    /// Only lines whose text contains this, ignoring case.
    pub contains: Option<String>,
    /// Only the lines of this trace (the `trace_id` a request or message was given).
    pub trace: Option<String>,
    /// Only lines logged at or after this time (microseconds since the Unix epoch).
    pub since: Option<i64>,
    /// Only lines logged at or before this time (microseconds since the Unix epoch).
    pub until: Option<i64>,
    /// At most this many lines.
    pub limit: usize,
}

/// What a reader gets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The lines, oldest first, each a JSON object with its `seq` first.
    pub lines: Vec<String>,
    /// Which ring answered: pass it back as [`Query::ring`] with `after`.
    pub ring: u64,
    /// Pass as `after` to read on from here: everything up to it was looked at.
    pub next: u64,
    /// Lines after `after` that were dropped before this read (the ring was full): a reader
    /// that follows learns that it missed some.
    pub missed: u64,
}

/// Reads `vms`'s ring. `None` when the VMS has none (no version loaded).
pub fn read(vms: &str, query: &Query) -> Option<Page> {
    let ring = STORE
        .rings
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(vms)
        .cloned()?;
    let ring = ring.lock().unwrap_or_else(PoisonError::into_inner);
    Some(ring.read(query))
}

impl Ring {
    fn read(&self, query: &Query) -> Page {
        let needle = query.contains.as_ref().map(|c| c.to_lowercase());
        let matches = |e: &&Entry| {
            query.max_severity.is_none_or(|max| e.level <= max)
                && query.since.is_none_or(|since| e.at >= since)
                && query.until.is_none_or(|until| e.at <= until)
                && query.version.as_deref().is_none_or(|v| e.version() == v)
                && query
                    .trace
                    .as_deref()
                    .is_none_or(|t| t.is_empty() || e.trace() == t)
                && needle
                    .as_deref()
                    .is_none_or(|n| n.is_empty() || contains_ignoring_case(&e.line, n))
        };
        let limit = query.limit.max(1);
        let first_kept = self.entries.front().map_or(self.last + 1, |e| e.seq);
        let (chosen, next, missed): (Vec<&Entry>, u64, u64) = match query.after {
            Some(after) => {
                // A cursor of another ring (the VMS was unloaded and loaded again, or the
                // engine restarted) starts from the beginning of this one.
                let after = if after > self.last || query.ring.is_some_and(|r| r != self.id) {
                    0
                } else {
                    after
                };
                let missed = first_kept.saturating_sub(after + 1);
                let start = self.entries.partition_point(|e| e.seq <= after);
                let mut chosen = Vec::new();
                // Everything scanned counts as read, matching or not: the next read goes on
                // from where this one stopped.
                let mut next = after.max(first_kept - 1);
                for entry in self.entries.range(start..) {
                    if chosen.len() == limit {
                        break;
                    }
                    next = entry.seq;
                    if matches(&entry) {
                        chosen.push(entry);
                    }
                }
                (chosen, next, missed)
            }
            None => {
                let mut chosen: Vec<&Entry> = self
                    .entries
                    .iter()
                    .rev()
                    .filter(matches)
                    .take(limit)
                    .collect();
                chosen.reverse();
                (chosen, self.last, 0)
            }
        };
        Page {
            lines: chosen.iter().map(|e| with_seq(e)).collect(),
            ring: self.id,
            next,
            missed,
        }
    }
}

/// `{"seq":N,` followed by the rest of the line's object.
fn with_seq(entry: &Entry) -> String {
    let rest = entry.line.strip_prefix('{').unwrap_or(&entry.line);
    let mut out = String::with_capacity(entry.line.len() + 16);
    out.push_str("{\"seq\":");
    out.push_str(&entry.seq.to_string());
    if rest != "}" {
        out.push(',');
    }
    out.push_str(rest);
    out
}

/// Whether `text` contains `needle` (already lower case), ignoring case.
fn contains_ignoring_case(text: &str, needle: &str) -> bool {
    if text.is_ascii() && needle.is_ascii() {
        let (text, needle) = (text.as_bytes(), needle.as_bytes());
        return needle.len() <= text.len()
            && text
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle));
    }
    text.to_lowercase().contains(needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_with(lines: &[(&str, Level, &str)], limits: Limits) -> Ring {
        let mut ring = Ring::default();
        for (version, level, text) in lines {
            ring.push(entry(version, *level, text), limits);
        }
        ring
    }

    /// `{"version":"…","message":"…"}`, logged at 0 µs.
    fn entry(version: &str, level: Level, text: &str) -> Entry {
        let line = format!("{{\"version\":\"{version}\",\"message\":\"{text}\"}}");
        Entry {
            seq: 0,
            level: severity(level),
            version: 12..(12 + version.len() as u32),
            trace: 0..0,
            at: 0,
            line: line.into(),
        }
    }

    /// `{"version":"1","trace_id":"…","message":"…"}`, logged at `at` µs.
    fn traced(trace: &str, at: i64, text: &str) -> Entry {
        let line = format!("{{\"version\":\"1\",\"trace_id\":\"{trace}\",\"message\":\"{text}\"}}");
        Entry {
            seq: 0,
            level: severity(Level::INFO),
            version: 12..13,
            trace: 27..(27 + trace.len() as u32),
            at,
            line: line.into(),
        }
    }

    fn messages(page: &Page) -> Vec<String> {
        page.lines
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                format!("{}:{}", v["seq"], v["message"].as_str().unwrap())
            })
            .collect()
    }

    const ROOMY: Limits = Limits {
        lines: 100,
        bytes: 1 << 20,
    };

    #[test]
    fn the_newest_lines_come_oldest_first_with_their_sequence_numbers() {
        let ring = ring_with(
            &[
                ("1", Level::INFO, "a"),
                ("1", Level::INFO, "b"),
                ("1", Level::INFO, "c"),
            ],
            ROOMY,
        );
        let page = ring.read(&Query {
            limit: 2,
            ..Query::default()
        });
        assert_eq!(messages(&page), ["2:b", "3:c"]);
        assert_eq!((page.next, page.missed), (3, 0));
    }

    #[test]
    fn a_follower_reads_on_from_its_last_line_and_learns_what_it_missed() {
        let limits = Limits {
            lines: 3,
            bytes: 1 << 20,
        };
        let mut ring = ring_with(&[("1", Level::INFO, "a"), ("1", Level::INFO, "b")], limits);
        let first = ring.read(&Query {
            after: Some(0),
            limit: 10,
            ..Query::default()
        });
        assert_eq!(messages(&first), ["1:a", "2:b"]);
        assert_eq!(first.next, 2);
        // Nothing new: the same cursor comes back.
        let idle = ring.read(&Query {
            after: Some(2),
            limit: 10,
            ..Query::default()
        });
        assert!(idle.lines.is_empty());
        assert_eq!((idle.next, idle.missed), (2, 0));
        for text in ["c", "d", "e", "f"] {
            ring.push(entry("1", Level::INFO, text), limits);
        }
        // Lines 3 to 6 came; the ring keeps 4..6, so line 3 was missed.
        let after = ring.read(&Query {
            after: Some(2),
            limit: 10,
            ..Query::default()
        });
        assert_eq!(messages(&after), ["4:d", "5:e", "6:f"]);
        assert_eq!((after.next, after.missed), (6, 1));
        // A limit stops the page where it is full; the next read goes on from there.
        let part = ring.read(&Query {
            after: Some(3),
            limit: 1,
            ..Query::default()
        });
        assert_eq!(messages(&part), ["4:d"]);
        assert_eq!(part.next, 4);
        // A cursor of another ring, or past this ring's end (the engine restarted), reads
        // this one from its start.
        for query in [
            Query {
                after: Some(5),
                ring: Some(ring.id + 1),
                limit: 10,
                ..Query::default()
            },
            Query {
                after: Some(60),
                ring: Some(ring.id),
                limit: 10,
                ..Query::default()
            },
        ] {
            let fresh = ring.read(&query);
            assert_eq!(messages(&fresh), ["4:d", "5:e", "6:f"]);
            assert_eq!((fresh.next, fresh.missed, fresh.ring), (6, 3, ring.id));
        }
        assert_ne!(Ring::default().id, Ring::default().id);
    }

    #[test]
    fn filters_by_version_severity_and_text_and_skips_what_they_leave_out() {
        let ring = ring_with(
            &[
                ("1", Level::INFO, "request ok"),
                ("2", Level::WARN, "Orders Unavailable"),
                ("2", Level::ERROR, "request failed"),
                ("2", Level::DEBUG, "auth failed"),
            ],
            ROOMY,
        );
        let warn_or_worse = ring.read(&Query {
            max_severity: Some(2),
            limit: 10,
            ..Query::default()
        });
        assert_eq!(
            messages(&warn_or_worse),
            ["2:Orders Unavailable", "3:request failed"]
        );
        let v1 = ring.read(&Query {
            version: Some("1".into()),
            limit: 10,
            ..Query::default()
        });
        assert_eq!(messages(&v1), ["1:request ok"]);
        let searched = ring.read(&Query {
            contains: Some("ORDERS".into()),
            after: Some(0),
            limit: 10,
            ..Query::default()
        });
        assert_eq!(messages(&searched), ["2:Orders Unavailable"]);
        // The lines it passed over count as read.
        assert_eq!(searched.next, 4);
        let unicode = ring_with(&[("1", Level::INFO, "Größe ÄNDERT sich")], ROOMY);
        let found = unicode.read(&Query {
            contains: Some("änDert".to_lowercase()),
            limit: 10,
            ..Query::default()
        });
        assert_eq!(found.lines.len(), 1);
    }

    #[test]
    fn filters_by_trace_and_time() {
        let mut ring = Ring::default();
        for (trace, at, text) in [
            ("t-1", 1_000, "a"),
            ("t-2", 2_000, "b"),
            ("t-1", 3_000, "c"),
            ("t-10", 4_000, "d"),
        ] {
            ring.push(traced(trace, at, text), ROOMY);
        }
        ring.push(entry("1", Level::INFO, "untraced"), ROOMY);
        let read = |query: Query| messages(&ring.read(&Query { limit: 10, ..query }));
        // A trace id matches whole, not as a prefix of a longer one.
        let t1 = read(Query {
            trace: Some("t-1".into()),
            ..Query::default()
        });
        assert_eq!(t1, ["1:a", "3:c"]);
        let window = read(Query {
            since: Some(2_000),
            until: Some(3_000),
            ..Query::default()
        });
        assert_eq!(window, ["2:b", "3:c"]);
        let later = read(Query {
            since: Some(3_500),
            after: Some(0),
            ..Query::default()
        });
        assert_eq!(later, ["4:d"]);
        let traced_in_time = read(Query {
            trace: Some("t-1".into()),
            since: Some(2_000),
            ..Query::default()
        });
        assert_eq!(traced_in_time, ["3:c"]);
    }

    #[test]
    fn the_byte_limit_drops_the_oldest_lines_but_keeps_the_newest_one() {
        let limits = Limits {
            lines: 100,
            bytes: 40,
        };
        let ring = ring_with(
            &[
                ("1", Level::INFO, "aaaaaaaaaa"),
                ("1", Level::INFO, "bbbbbbbbbb"),
                ("1", Level::INFO, &"c".repeat(200)),
            ],
            limits,
        );
        assert_eq!(ring.entries.len(), 1);
        assert_eq!(ring.entries[0].seq, 3);
        assert_eq!(ring.bytes, ring.entries[0].size());
    }

    #[test]
    fn only_vms_with_a_ring_keep_lines() {
        let vms = "recent-unit-test-vms";
        let marks = |version: Range<usize>, trace: Option<Range<usize>>| Marks {
            version,
            trace,
            at: 5,
        };
        record(
            vms,
            &marks(12..13, None),
            Level::INFO,
            "{\"version\":\"1\",\"message\":\"before\"}",
        );
        assert!(read(vms, &Query::default()).is_none());
        open(vms);
        assert!(keeping());
        record(
            vms,
            &marks(12..13, Some(200..210)),
            Level::INFO,
            "{\"version\":\"1\",\"message\":\"kept\"}\n",
        );
        // A version range outside the line is not kept.
        record(
            vms,
            &marks(40..90, None),
            Level::INFO,
            "{\"version\":\"1\"}",
        );
        let page = read(
            vms,
            &Query {
                limit: 10,
                ..Query::default()
            },
        )
        .unwrap();
        assert_eq!(
            page.lines,
            ["{\"seq\":1,\"version\":\"1\",\"message\":\"kept\"}"]
        );
        let v1 = read(
            vms,
            &Query {
                version: Some("1".into()),
                limit: 10,
                ..Query::default()
            },
        )
        .unwrap();
        assert_eq!(v1.lines.len(), 1);
        close(vms);
        assert!(read(vms, &Query::default()).is_none());
    }
}
