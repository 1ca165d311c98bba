//! The engine's JSON log line: one object per event, written straight into the line's text.
//!
//! `{"timestamp":"2026-12-05T00:54:48.569955Z","level":"INFO","message":"request",
//! "vms":"shop",…,"target":"starweave_engine::server::data"}` — the timestamp in UTC with
//! microseconds, the level, the message and the event's fields in the order they were
//! recorded, then the target. Strings are escaped as JSON requires (quotes, backslashes and
//! control characters); numbers that JSON cannot hold (NaN, infinities) are written as
//! `null`. The engine logs a line per request, and building it through a general serialiser
//! cost about 4 % of a small request's instructions; this writes the same line for a fifth
//! of that.

use std::fmt::{self, Write as _};

use chrono::{Datelike, Timelike};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The JSON `FormatEvent` of the engine's log.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let line = render_and_keep(event);
        writer.write_str(&line)
    }
}

/// The event's JSON line (with its line break), kept in its VMS's recent lines when it
/// names a `vms` and a `version` (see [`super::recent`]).
pub(crate) fn render_and_keep(event: &Event<'_>) -> String {
    let mut line = String::with_capacity(320);
    line.push_str("{\"timestamp\":\"");
    let now = chrono::Utc::now();
    timestamp(&mut line, now);
    line.push_str("\",\"level\":\"");
    line.push_str(level_name(event.metadata().level()));
    line.push('"');
    let mut fields = Fields {
        out: &mut line,
        vms: None,
        version: None,
        trace: None,
    };
    event.record(&mut fields);
    let (vms, version, trace) = (fields.vms, fields.version, fields.trace);
    line.push_str(",\"target\":");
    json_string(&mut line, event.metadata().target());
    line.push('}');
    if let (Some(vms), Some(version)) = (vms, version) {
        let marks = super::recent::Marks {
            version,
            trace,
            at: now.timestamp_micros(),
        };
        super::recent::record(&line[vms], &marks, *event.metadata().level(), &line);
    }
    line.push('\n');
    line
}

/// A layer that keeps events in their VMS's recent lines without writing them anywhere:
/// for when standard error gets text lines instead of JSON.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeepRecent;

impl<S: Subscriber> tracing_subscriber::Layer<S> for KeepRecent {
    fn on_event(&self, event: &Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        // The JSON line is built only for an event a ring could keep: one naming a VMS,
        // while some VMS has a ring.
        if event.metadata().fields().field("vms").is_some() && super::recent::keeping() {
            render_and_keep(event);
        }
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
fn timestamp(out: &mut String, now: chrono::DateTime<chrono::Utc>) {
    let pad = |out: &mut String, value: u32, width: usize| {
        let _ = write!(out, "{value:0width$}");
    };
    let year = now.year();
    if (0..=9999).contains(&year) {
        pad(out, year.unsigned_abs(), 4);
    } else {
        let _ = write!(out, "{year:+}");
    }
    out.push('-');
    pad(out, now.month(), 2);
    out.push('-');
    pad(out, now.day(), 2);
    out.push('T');
    pad(out, now.hour(), 2);
    out.push(':');
    pad(out, now.minute(), 2);
    out.push(':');
    pad(out, now.second(), 2);
    out.push('.');
    // A leap second shows as 60 in chrono's nanoseconds; keep six digits.
    pad(out, (now.nanosecond() / 1000).min(999_999), 6);
    out.push('Z');
}

/// Whether any of the eight bytes of `word` is a control character, `"` or `\\`: the
/// bytes a JSON string must escape. Bit tricks over the whole word, so clean text is
/// passed over eight bytes at a time.
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte below 0x20; a byte equal to `"` or `\\` (zero after the XOR). Bytes of 0x80
    // and above (UTF-8) are excluded by `!word`.
    let control = word.wrapping_sub(ONES * 0x20);
    let quote = (word ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES);
    let backslash = (word ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES);
    let quote = quote & !(word ^ (ONES * u64::from(b'"')));
    let backslash = backslash & !(word ^ (ONES * u64::from(b'\\')));
    (control & !word | quote | backslash) & HIGH != 0
}

/// Appends `text` as a JSON string.
fn json_string(out: &mut String, text: &str) {
    out.push('"');
    let bytes = text.as_bytes();
    let mut start = 0;
    // Clean eight-byte words are taken whole; the loop below finds the first byte to escape
    // from where they end.
    let mut clean = 0;
    while let Some(chunk) = bytes.get(clean..clean + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        if needs_escape(word) {
            break;
        }
        clean += 8;
    }
    for (i, &b) in bytes.iter().enumerate().skip(clean) {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// Writes each recorded field as `,"name":value`, noting where the `vms`, `version` and
/// `trace_id` strings are when they needed no escaping (names of VMS and versions are
/// plain: letters, digits and `._+-`; trace ids are plain tokens).
struct Fields<'a> {
    out: &'a mut String,
    vms: Option<std::ops::Range<usize>>,
    version: Option<std::ops::Range<usize>>,
    trace: Option<std::ops::Range<usize>>,
}

impl Fields<'_> {
    fn name(&mut self, field: &Field) {
        self.out.push(',');
        json_string(self.out, field.name());
        self.out.push(':');
    }

    /// An integer: its decimal text is already JSON.
    fn number(&mut self, field: &Field, value: impl fmt::Display) {
        self.name(field);
        let _ = write!(self.out, "{value}");
    }
}

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.name(field);
        if value.is_finite() {
            let _ = write!(self.out, "{value}");
        } else {
            self.out.push_str("null");
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.number(field, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.number(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.number(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.name(field);
        self.out.push_str(if value { "true" } else { "false" });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field);
        let start = self.out.len() + 1;
        json_string(self.out, value);
        let plain = self.out.len() == start + value.len() + 1;
        match field.name() {
            "vms" if plain => self.vms = Some(start..start + value.len()),
            "version" if plain => self.version = Some(start..start + value.len()),
            "trace_id" if plain => self.trace = Some(start..start + value.len()),
            _ => {}
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.name(field);
        json_string(self.out, &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.name(field);
        // The message (`format_args!`) and `?value` fields: their `Debug` text.
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        json_string(self.out, &text);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use chrono::TimeZone;
    use serde_json::{Value, json};
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[test]
    fn timestamps_have_microseconds_in_utc() {
        let mut out = String::new();
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 2, 3, 4, 5, 6)
            .unwrap()
            .with_nanosecond(7_890_123)
            .unwrap();
        timestamp(&mut out, at);
        assert_eq!(out, "2026-02-03T04:05:06.007890Z");
    }

    #[test]
    fn strings_are_escaped_for_json() {
        let text = "quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} é ✓";
        let mut out = String::new();
        json_string(&mut out, text);
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, text);
        assert!(out.contains("\\u0000") && out.contains("\\u0007"));
    }

    #[test]
    fn the_word_test_finds_every_byte_to_escape() {
        for special in (0u8..0x20).chain([b'"', b'\\']) {
            for at in 0..8 {
                for filler in [b'a', b' ', 0x7f, 0x80, 0xff, b'!', b'#', b']'] {
                    let mut word = [filler; 8];
                    word[at] = special;
                    assert!(needs_escape(u64::from_le_bytes(word)), "{word:?}");
                }
            }
        }
        for byte in 0x20u8..=0xff {
            if byte != b'"' && byte != b'\\' {
                assert!(!needs_escape(u64::from_le_bytes([byte; 8])), "{byte:#x}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_reads_back_as_itself(text in "(\\PC|[\"\\\\\\x00-\\x1f]){0,40}") {
            let mut out = String::new();
            json_string(&mut out, &text);
            let back: String = serde_json::from_str(&out).unwrap();
            proptest::prop_assert_eq!(back, text);
        }
    }

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    #[test]
    fn events_become_one_json_object_per_line() {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .event_format(JsonLine)
            .with_writer(capture.clone())
            .with_max_level(Level::TRACE)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let duration_ms = 1.5_f64;
            tracing::info!(
                vms = "shop \"bff\"",
                status = 200_u16,
                delta = -3_i64,
                ok = true,
                duration_ms,
                nan = f64::NAN,
                list = ?vec![1, 2],
                "request {}",
                7
            );
            tracing::error!("line\nbreak");
        });
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        let first = &lines[0];
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["message"], "request 7");
        assert_eq!(first["vms"], "shop \"bff\"");
        assert_eq!(first["status"], 200);
        assert_eq!(first["delta"], -3);
        assert_eq!(first["ok"], true);
        assert_eq!(first["duration_ms"], json!(1.5));
        assert_eq!(first["nan"], Value::Null);
        assert_eq!(first["list"], "[1, 2]");
        assert_eq!(first["target"], module_path!());
        let keys: Vec<&str> = first
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys[..3], ["timestamp", "level", "message"]);
        assert_eq!(keys.last(), Some(&"target"));
        assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["level"], "ERROR");
        assert_eq!(lines[1]["message"], "line\nbreak");
    }
}
