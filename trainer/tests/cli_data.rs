//! `marquee data stats` end to end: the real movie set, and a set with broken rows.

use std::process::Command;

use tests::movies_dir;

fn marquee() -> Command {
    Command::new(env!("CARGO_BIN_EXE_marquee"))
}

#[test]
fn stats_on_the_real_set_reports_6749_movies_and_20_genres() {
    let output = marquee().args(["data", "stats", "--json", "--data"]).arg(movies_dir()).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(stats["movies"], 6749);
    assert_eq!(stats["num_genres"], 20);
    assert_eq!(stats["genres"].as_object().unwrap().len(), 20);
    assert_eq!(stats["bad_rows"].as_array().unwrap().len(), 0);
    let splits = &stats["splits"];
    let total: u64 = ["train", "validation", "test"].iter().map(|s| splits[s].as_u64().unwrap()).sum();
    assert_eq!(total, 6749);
    let mean = stats["labels_per_movie"]["mean"].as_f64().unwrap();
    assert!((2.3..2.5).contains(&mean), "SOURCES.md says 2.4 genres per movie on average, got {mean}");
}

#[test]
fn broken_rows_give_three_clear_messages_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let posters = dir.path().join("posters");
    std::fs::create_dir(&posters).unwrap();
    // Real posters for the good rows, a corrupt one for the third row.
    let real = movies_dir().join("posters/tt0012349.jpg");
    std::fs::copy(&real, posters.join("good.jpg")).unwrap();
    let bytes = std::fs::read(&real).unwrap();
    std::fs::write(posters.join("corrupt.jpg"), &bytes[..bytes.len() / 3]).unwrap();
    let mut csv = b"id,title,year,overview,genres,poster\n".to_vec();
    csv.extend_from_slice(b"tt1,Good,1921,A tramp cares for a boy.,Comedy|Drama,posters/good.jpg\n");
    csv.extend_from_slice(b"tt2,No plot,1921,,Comedy,posters/good.jpg\n");
    csv.extend_from_slice(b"tt3,Broken poster,1921,A plot.,Drama,posters/corrupt.jpg\n");
    csv.extend_from_slice(b"tt4,Bad \xe9 bytes,1921,A plot.,Drama,posters/good.jpg\n");
    std::fs::write(dir.path().join("movies.csv"), csv).unwrap();

    let output = marquee().args(["data", "stats", "--data"]).arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stdout.contains("Movies     1 usable, 3 bad rows skipped"), "{stdout}");
    assert!(stdout.contains("movies.csv:3 (tt2): empty overview"), "{stdout}");
    assert!(stdout.contains("movies.csv:5 (tt4): column 'title' is not valid UTF-8"), "{stdout}");
    assert!(stdout.contains("(tt3): corrupt poster: image ") && stdout.contains("corrupt.jpg"), "{stdout}");

    let strict = marquee().args(["data", "stats", "--strict", "--data"]).arg(dir.path()).output().unwrap();
    assert!(!strict.status.success());
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert!(stderr.contains("bad row (strict mode): movies.csv:3 (tt2): empty overview"), "{stderr}");
}
