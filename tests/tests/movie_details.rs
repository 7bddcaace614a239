//! A movie's optional title and year: the default bundle's lexical branch reads them where they
//! are given (`marquee predict --title --year`), classifies from the plot alone where they are
//! not, and refuses a year that is not one.

use std::path::PathBuf;
use std::process::Command;

use tests::{manifest_dir, marquee_bin, marquee_ok, predicted_probabilities};

const PLOT: &str = "A Virginia farmer who has stayed out of the war sees it reach his family when his youngest \
                    son is taken prisoner by Union soldiers.";

fn default_bundle() -> PathBuf {
    manifest_dir().join("../www/models/default")
}

fn predict(details: &[&str]) -> Vec<(String, f64)> {
    let bundle = default_bundle();
    let mut args = vec!["predict", "--json", "--bundle", bundle.to_str().unwrap(), "--plot", PLOT];
    args.extend(details);
    predicted_probabilities(&serde_json::from_slice(&marquee_ok(args).stdout).unwrap())
}

#[test]
fn a_title_and_a_year_reach_the_lexical_branch_and_are_optional() {
    let manifest = model_core::bundle::Bundle::read_dir(&default_bundle()).unwrap().manifest;
    let config = manifest.lexical.expect("the default bundle has a lexical branch").config;
    assert!(config.reads_title && config.reads_year, "the default bundle reads titles and years: {config:?}");

    let plot_only = predict(&[]);
    let detailed = predict(&["--title", "Shenandoah", "--year", "1965"]);
    let western = |answers: &[(String, f64)]| answers.iter().find(|(g, _)| g == "Western").expect("Western").1;
    assert!(
        western(&detailed) > western(&plot_only),
        "a 1965 title moves Western up: {} with the details, {} without",
        western(&detailed),
        western(&plot_only)
    );
    // Details the branch reads only through its terms: an unknown title and no year change nothing.
    assert_eq!(predict(&["--title", "Qwxzv"]), plot_only);

    let refused = Command::new(marquee_bin())
        .args(["predict", "--bundle", default_bundle().to_str().unwrap(), "--plot", PLOT, "--year", "19655"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("--year"), "the error names the input: {message}");
}
