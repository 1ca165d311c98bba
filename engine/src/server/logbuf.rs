//! Log lines to standard error, gathered for a moment and written together.
//!
//! A busy engine logs one line per request; writing each with its own system call costs more
//! than formatting it (on a 2-core host, about a tenth of the engine's kernel time per
//! request). Lines are therefore appended to a buffer and written when it holds 64 KiB, on
//! a background thread every `flush` interval (100 ms by default), before a panic is reported
//! and when the process ends normally. Warnings and errors are written at once, together
//! with whatever waited before them, so a problem is never behind in the log; with an
//! interval of zero every line is written at once. A process killed with `SIGKILL` loses at
//! most the last interval's info lines, as an access log buffered the same way would.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Written when the buffer holds this much, without waiting for the interval.
const FLUSH_BYTES: usize = 64 * 1024;

/// The buffer of the process's log sink, for [`flush`].
static SHARED: OnceLock<Arc<Shared>> = OnceLock::new();

#[derive(Debug, Default)]
struct Shared {
    pending: Mutex<Vec<u8>>,
}

impl Shared {
    fn write_out(pending: &mut Vec<u8>) {
        if pending.is_empty() {
            return;
        }
        let mut err = std::io::stderr().lock();
        // Nowhere to report a failed log write: standard error is the report.
        let _ = err.write_all(pending);
        let _ = err.flush();
        pending.clear();
    }

    fn flush(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        Self::write_out(&mut pending);
    }
}

/// The `MakeWriter` of the engine's log: standard error, buffered as the module describes.
#[derive(Debug, Clone)]
pub struct LogSink {
    shared: Arc<Shared>,
    buffered: bool,
}

impl LogSink {
    /// A sink that writes within `interval` (zero: every line at once). The first sink made
    /// with a non-zero interval starts the flushing thread and the panic hook; [`flush`]
    /// writes what waits.
    pub fn new(interval: Duration) -> LogSink {
        let buffered = !interval.is_zero();
        let shared = if buffered {
            let mut started = false;
            let shared = SHARED
                .get_or_init(|| {
                    started = true;
                    Arc::new(Shared::default())
                })
                .clone();
            if started {
                let flusher = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name("starweave-log".into())
                    .spawn(move || {
                        loop {
                            std::thread::sleep(interval);
                            flusher.flush();
                        }
                    });
                if spawned.is_err() {
                    // No thread to flush later: write every line at once instead.
                    return LogSink {
                        shared,
                        buffered: false,
                    };
                }
                let previous = std::panic::take_hook();
                std::panic::set_hook(Box::new(move |info| {
                    flush();
                    previous(info);
                }));
            }
            shared
        } else {
            Arc::new(Shared::default())
        };
        LogSink { shared, buffered }
    }
}

/// Writes the log lines that wait (at exit, or before something else writes to standard
/// error). Does nothing when nothing is buffered.
pub fn flush() {
    if let Some(shared) = SHARED.get() {
        shared.flush();
    }
}

/// One event's writer: its text goes into the buffer, or straight out when it is urgent.
#[derive(Debug)]
pub struct LineWriter<'a> {
    sink: &'a LogSink,
    urgent: bool,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut pending = self
            .sink
            .shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        pending.extend_from_slice(buf);
        if !self.sink.buffered || self.urgent || pending.len() >= FLUSH_BYTES {
            Shared::write_out(&mut pending);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            sink: self,
            urgent: false,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter {
            sink: self,
            // `Level` orders by verbosity: WARN and ERROR are the least verbose.
            urgent: *meta.level() <= Level::WARN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffered sink of its own, without the process-wide flushing thread.
    fn buffered_sink() -> LogSink {
        LogSink {
            shared: Arc::new(Shared::default()),
            buffered: true,
        }
    }

    #[test]
    fn warnings_go_out_with_what_waited_before_them() {
        let sink = buffered_sink();
        let mut info = sink.make_writer();
        info.write_all(b"first\n").unwrap();
        assert_eq!(*sink.shared.pending.lock().unwrap(), b"first\n");
        // An urgent line takes the waiting one out with it (to standard error).
        let mut urgent = LineWriter {
            sink: &sink,
            urgent: true,
        };
        urgent.write_all(b"warn\n").unwrap();
        assert!(sink.shared.pending.lock().unwrap().is_empty());
    }

    #[test]
    fn a_full_buffer_is_written_without_waiting() {
        let sink = buffered_sink();
        let mut info = sink.make_writer();
        let line = [b'x'; 1000];
        for _ in 0..(FLUSH_BYTES / line.len()) - 1 {
            info.write_all(&line).unwrap();
        }
        assert!(!sink.shared.pending.lock().unwrap().is_empty());
        info.write_all(&line).unwrap();
        info.write_all(&line).unwrap();
        assert!(sink.shared.pending.lock().unwrap().len() <= line.len());
    }

    #[test]
    fn unbuffered_sinks_keep_nothing() {
        let sink = LogSink::new(Duration::ZERO);
        let mut info = sink.make_writer();
        info.write_all(b"line\n").unwrap();
        assert!(sink.shared.pending.lock().unwrap().is_empty());
    }
}
