//! Progress bars with rate and ETA for long work (hidden when stderr is not a terminal and
//! `MARQUEE_PROGRESS=plain` lines are not asked for).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `len` items, labelled `message`.
pub fn bar(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>18} [{bar:32.cyan/blue}] {pos}/{len} {per_sec} ETA {eta} {prefix}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar
}
