//! Log lines in Pipy's format: `2026-01-02 03:04:05.678 [INF] message key=value`,
//! to stderr, at the level the command line asks for. With several workers, a
//! worker's lines say which it is: `[INF] [worker 1] message`.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

struct PipyFormat;

/// Set when more than one worker runs: lines from a worker then say which.
static SEVERAL_WORKERS: AtomicBool = AtomicBool::new(false);

/// Says how many workers run, so that their lines say which one wrote them.
pub fn set_workers(n: usize) {
    SEVERAL_WORKERS.store(n > 1, Ordering::Relaxed);
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn timestamp() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}.{:03}", s / 3600, s / 60 % 60, s % 60, now.subsec_millis())
}

impl<S, N> FormatEvent<S, N> for PipyFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let level = match *event.metadata().level() {
            Level::ERROR => "ERR",
            Level::WARN => "WRN",
            Level::INFO => "INF",
            _ => "DBG",
        };
        write!(w, "{} [{level}] ", timestamp())?;
        if SEVERAL_WORKERS.load(Ordering::Relaxed) {
            if let Some(n) = std::thread::current().name().and_then(|n| n.strip_prefix("worker-")) {
                write!(w, "[worker {n}] ")?;
            }
        }
        ctx.format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// Parses `debug`, `debug:thread+inbound`, `info`, `warn`, `error`.
pub fn parse_level(s: &str) -> Result<Level, String> {
    match s.split(':').next().unwrap_or("") {
        "debug" => Ok(Level::DEBUG),
        "info" => Ok(Level::INFO),
        "warn" => Ok(Level::WARN),
        "error" => Ok(Level::ERROR),
        other => Err(format!("unknown log level '{other}' (use debug, info, warn or error)")),
    }
}

/// Installs the global logger.
pub fn init(level: Level) {
    tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr).event_format(PipyFormat).init();
}

/// Sends panic messages to the log (one line, with where it happened) instead of
/// raw stderr. Script callbacks catch panics and fail their stream; this line is
/// what to put in a bug report.
pub fn panics_to_log() {
    std::panic::set_hook(Box::new(|info| {
        let what = match (info.payload().downcast_ref::<&str>(), info.payload().downcast_ref::<String>()) {
            (Some(s), _) => s.to_string(),
            (_, Some(s)) => s.clone(),
            _ => "a panic".to_string(),
        };
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
        tracing::error!("internal error in thread {thread}{place}: {what} (a bug in proxy; please report it)");
    }));
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_779), (2026, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
