//! Progress bars with rate and ETA for long work. On a terminal they redraw in place; when
//! stderr is a file or a pipe (a log of `nohup marquee train ...`), the same line is written
//! as plain text at most every [`PLAIN_EVERY`] and once at the end.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

/// How often a log (not a terminal) gets a progress line.
pub const PLAIN_EVERY: Duration = Duration::from_secs(30);

/// A bar over `len` items, labelled `message`.
pub fn bar(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr_with_hz(4)
    } else {
        ProgressDrawTarget::term_like_with_hz(Box::new(PlainLines::default()), 1)
    };
    bar.set_draw_target(target);
    bar.set_style(
        ProgressStyle::with_template("{msg:>18} [{bar:32.cyan/blue}] {pos}/{len} {per_sec} ETA {eta} {prefix}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar
}

/// Writes a bar's state to stderr as whole lines, throttled.
#[derive(Debug, Default)]
struct PlainLines {
    last: Mutex<Option<Instant>>,
}

impl PlainLines {
    fn emit(&self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        let mut last = self.last.lock().expect("progress lock");
        // The last draw of a finished bar shows pos == len; always let a complete bar through.
        let finished = line.split_whitespace().any(|w| w.split_once('/').is_some_and(|(a, b)| a == b && !a.is_empty()));
        if finished || last.is_none_or(|t| t.elapsed() >= PLAIN_EVERY) {
            *last = Some(Instant::now());
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}

impl TermLike for PlainLines {
    fn width(&self) -> u16 {
        120
    }
    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.emit(s);
        Ok(())
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.emit(s);
        Ok(())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        Ok(())
    }
}
