//! PNG plots: a run's loss and F1 curves per epoch and per-genre F1 bars; a comparison of
//! models (F1 bars, per-genre F1 heat map).

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use super::history::EpochRecord;

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const WIDTH: u32 = 900;
const HEIGHT: u32 = 520;

fn ensure_font() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        // The font is compiled in; registering it cannot fail on a valid TTF.
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Renders into an RGB buffer and writes it as a PNG at `path`.
fn render(
    path: &Path,
    draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    ensure_font();
    let mut buffer = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        draw(root.clone())?;
        root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let image = image::RgbImage::from_raw(WIDTH, HEIGHT, buffer).expect("buffer has the plot's size");
    image.save(path).with_context(|| format!("writing {}", path.display()))
}

fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("plot: {e}")
}

/// One metric's value in an epoch record.
type Pick = fn(&EpochRecord) -> f64;

/// Loss curves (train and validation) and validation F1 curves (micro and macro) per epoch.
pub fn curves(history: &[EpochRecord], path: &Path, title: &str) -> Result<()> {
    render(path, |root| {
        let (left, right) = root.split_horizontally(WIDTH / 2);
        let max_loss =
            history.iter().flat_map(|r| [r.train_loss, r.validation_loss]).fold(0.0f64, f64::max).max(1e-3) * 1.1;
        let losses: [(&str, RGBColor, Pick); 2] =
            [("train", BLUE, |r| r.train_loss), ("validation", RED, |r| r.validation_loss)];
        line_panel(&left, history, &format!("{title}: loss"), "BCE loss", max_loss, &losses)?;
        let f1s: [(&str, RGBColor, Pick); 2] =
            [("micro F1", GREEN, |r| r.validation_micro_f1), ("macro F1", MAGENTA, |r| r.validation_macro_f1)];
        line_panel(&right, history, "validation F1", "F1", 1.0, &f1s)
    })
}

/// A panel of per-epoch lines with markers and a legend.
fn line_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    history: &[EpochRecord],
    caption: &str,
    y_desc: &str,
    y_max: f64,
    series: &[(&str, RGBColor, Pick)],
) -> Result<()> {
    let epochs = history.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(0.5..epochs as f64 + 0.5, 0.0..y_max)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_desc)
        .x_labels(epochs.clamp(2, 12) + 1)
        .x_label_formatter(&|x| {
            if x.fract().abs() < 1e-9 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .light_line_style(WHITE)
        .draw()
        .map_err(plot_err)?;
    for &(name, color, pick) in series {
        let points: Vec<(f64, f64)> = history.iter().map(|r| (r.epoch as f64, pick(r))).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(plot_err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, color.filled()))).map_err(plot_err)?;
    }
    draw_legend(&mut chart)
}

/// The series legend in the lower right corner, framed.
fn draw_legend<'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, CT>,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .map_err(plot_err)
}

/// Horizontal bars of each genre's F1 (best first), with its support in the label.
pub fn genre_bars(scores: &[(String, f64, usize)], path: &Path, title: &str) -> Result<()> {
    render(path, |root| {
        let n = scores.len().max(1);
        let labels: Vec<String> = scores.iter().map(|(g, _, support)| format!("{g} ({support})")).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(190)
            .build_cartesian_2d(0.0..1.0, (0..n - 1).into_segmented())
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .x_desc("F1")
            .y_labels(n)
            .y_label_formatter(&|v: &SegmentValue<usize>| match v {
                SegmentValue::CenterOf(i) if *i < n => labels[n - 1 - i].clone(),
                _ => String::new(),
            })
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(scores.iter().enumerate().map(|(i, (_, f1, _))| {
                let row = n - 1 - i;
                let mut bar = Rectangle::new(
                    [(0.0, SegmentValue::Exact(row)), (*f1, SegmentValue::Exact(row + 1))],
                    BLUE.mix(0.7).filled(),
                );
                bar.set_margin(3, 3, 0, 0);
                bar
            }))
            .map_err(plot_err)?;
        Ok(())
    })
}

/// Grouped bars: for each model, its test micro, macro, weighted and samples F1.
pub fn model_comparison(models: &[(String, [f64; 4])], path: &Path, title: &str) -> Result<()> {
    const METRICS: [(&str, RGBColor); 4] = [
        ("micro F1", RGBColor(31, 119, 180)),
        ("macro F1", RGBColor(255, 127, 14)),
        ("weighted F1", RGBColor(44, 160, 44)),
        ("samples F1", RGBColor(148, 103, 189)),
    ];
    render(path, |root| {
        let n = models.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(230)
            // Model i's group of bars is centred on y = i (the top model at the top).
            .build_cartesian_2d(0.0..1.0, -0.5..n as f64 - 0.5)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .x_desc("test F1")
            .y_labels(n)
            .y_label_formatter(&|y: &f64| {
                let i = y.round();
                if (y - i).abs() < 1e-6 && (0.0..n as f64).contains(&i) {
                    models[n - 1 - i as usize].0.clone()
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(plot_err)?;
        for (k, (name, color)) in METRICS.iter().enumerate() {
            let color = *color;
            chart
                .draw_series(models.iter().enumerate().map(move |(i, (_, values))| {
                    // Each model's row is split into four thin bars, one per metric.
                    let top = (n - 1 - i) as f64 + 0.4 - 0.2 * k as f64;
                    Rectangle::new([(0.0, top - 0.18), (values[k], top)], color.filled())
                }))
                .map_err(plot_err)?
                .label(*name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
        }
        draw_legend(&mut chart)
    })
}

/// A heat map of per-genre test F1: genres down, models across, each cell coloured by its F1
/// and labelled with it.
pub fn genre_heatmap(genres: &[String], models: &[(String, Vec<f64>)], path: &Path, title: &str) -> Result<()> {
    ensure_font();
    let (width, height) = (260 + 110 * models.len() as u32, 90 + 26 * genres.len() as u32);
    let mut buffer = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let text = |s: &str, x: i32, y: i32, size: i32, color: RGBColor| {
            root.draw(&Text::new(s.to_string(), (x, y), ("sans-serif", size).into_font().color(&color)))
        };
        text(title, 12, 10, 20, BLACK).map_err(plot_err)?;
        for (j, (model, _)) in models.iter().enumerate() {
            let x = 250 + 110 * j as i32;
            for (line, part) in model.split(' ').collect::<Vec<_>>().chunks(2).enumerate() {
                text(&part.join(" "), x + 4, 38 + 14 * line as i32, 12, BLACK).map_err(plot_err)?;
            }
        }
        for (i, genre) in genres.iter().enumerate() {
            let y = 80 + 26 * i as i32;
            text(genre, 12, y + 6, 15, BLACK).map_err(plot_err)?;
            for (j, (_, f1s)) in models.iter().enumerate() {
                let x = 250 + 110 * j as i32;
                let f1 = f1s.get(i).copied().unwrap_or(0.0);
                // White (0) to dark orange (1).
                let shade = |full: u8| (255.0 - (255.0 - f64::from(full)) * f1.clamp(0.0, 1.0)) as u8;
                let fill = RGBColor(shade(194), shade(65), shade(12));
                root.draw(&Rectangle::new([(x, y), (x + 106, y + 24)], fill.filled())).map_err(plot_err)?;
                let ink = if f1 > 0.55 { WHITE } else { BLACK };
                text(&format!("{f1:.2}"), x + 38, y + 5, 15, ink).map_err(plot_err)?;
            }
        }
        root.present().map_err(plot_err)?;
    }
    let image = image::RgbImage::from_raw(width, height, buffer).expect("buffer has the plot's size");
    image.save(path).with_context(|| format!("writing {}", path.display()))
}

/// A poster with a heat map of `scores` over a `grid` of cells (row-major) laid over it: red
/// where a cell raised the genre, blue where it lowered it, opacity by the square root of its
/// share of the largest score; a title above and a legend below.
pub fn poster_heat_map(
    poster: &image::RgbImage,
    grid: [usize; 2],
    scores: &[f32],
    title: &str,
    path: &Path,
) -> Result<()> {
    ensure_font();
    const SIDE: u32 = 320;
    const TOP: u32 = 36;
    const BOTTOM: u32 = 56;
    let height =
        (SIDE as f32 * poster.height() as f32 / poster.width().max(1) as f32).round().clamp(160.0, 480.0) as u32;
    let scaled = image::imageops::resize(poster, SIDE, height, image::imageops::FilterType::Triangle);
    let (width, total) = (SIDE + 20, TOP + height + BOTTOM);
    let mut buffer = vec![255u8; (width * total * 3) as usize];
    let largest = scores.iter().fold(0.0f32, |m, s| m.max(s.abs())).max(1e-12);
    // Bilinear interpolation of the cell scores at a pixel (cells' centres as the samples).
    let score_at = |x: u32, y: u32| -> f32 {
        let gx = ((x as f32 + 0.5) / SIDE as f32 * grid[1] as f32 - 0.5).clamp(0.0, grid[1] as f32 - 1.0);
        let gy = ((y as f32 + 0.5) / height as f32 * grid[0] as f32 - 0.5).clamp(0.0, grid[0] as f32 - 1.0);
        let (x0, y0) = (gx.floor() as usize, gy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(grid[1] - 1), (y0 + 1).min(grid[0] - 1));
        let (fx, fy) = (gx - x0 as f32, gy - y0 as f32);
        let at = |r: usize, c: usize| scores[r * grid[1] + c];
        let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
        let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
        top * (1.0 - fy) + bottom * fy
    };
    for y in 0..height {
        for x in 0..SIDE {
            let value = score_at(x, y) / largest;
            let tint: [f32; 3] = if value >= 0.0 { [220.0, 30.0, 30.0] } else { [30.0, 80.0, 230.0] };
            // The square root, so that the second-strongest regions show too (as in the widget).
            let alpha = value.abs().min(1.0).sqrt() * 0.7;
            let pixel = scaled.get_pixel(x, y).0;
            let at = (((TOP + y) * width + 10 + x) * 3) as usize;
            for c in 0..3 {
                buffer[at + c] = (pixel[c] as f32 * (1.0 - alpha) + tint[c] * alpha).round() as u8;
            }
        }
    }
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, total)).into_drawing_area();
        let text = |size| ("sans-serif", size).into_font().color(&BLACK);
        root.draw_text(title, &text(16), (10, 10)).map_err(plot_err)?;
        let bar_top = (TOP + height + 10) as i32;
        for i in 0..SIDE {
            let value = i as f32 / (SIDE - 1) as f32 * 2.0 - 1.0;
            let tint = if value >= 0.0 { RGBColor(220, 30, 30) } else { RGBColor(30, 80, 230) };
            let alpha = f64::from(value.abs()).sqrt() * 0.7;
            let x = 10 + i as i32;
            root.draw(&Rectangle::new([(x, bar_top), (x + 1, bar_top + 12)], tint.mix(alpha).filled()))
                .map_err(plot_err)?;
        }
        let label_y = bar_top + 16;
        root.draw_text("against the genre", &text(12), (10, label_y)).map_err(plot_err)?;
        root.draw_text("for the genre", &text(12), (SIDE as i32 - 70, label_y)).map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    let image = image::RgbImage::from_raw(width, total, buffer).expect("buffer has the picture's size");
    image.save(path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_real_pngs() {
        let dir = tempfile::tempdir().unwrap();
        let history: Vec<EpochRecord> = (1..=3)
            .map(|epoch| EpochRecord {
                epoch,
                train_loss: 1.0 / epoch as f64,
                validation_loss: 1.2 / epoch as f64,
                validation_micro_f1: 0.2 * epoch as f64,
                validation_macro_f1: 0.1 * epoch as f64,
                seconds: 1.0,
            })
            .collect();
        curves(&history, &dir.path().join("curves.png"), "test").unwrap();
        genre_bars(&[("Drama".into(), 0.7, 10), ("War".into(), 0.2, 3)], &dir.path().join("bars.png"), "F1").unwrap();
        model_comparison(&[("lstm".into(), [0.4, 0.3, 0.45, 0.41])], &dir.path().join("models.png"), "F1").unwrap();
        genre_heatmap(&["Drama".into()], &[("lstm".into(), vec![0.7])], &dir.path().join("heat.png"), "F1").unwrap();
        assert!(image::open(dir.path().join("heat.png")).unwrap().to_rgb8().pixels().any(|p| p.0 != [255, 255, 255]));
        for name in ["curves.png", "bars.png"] {
            let image = image::open(dir.path().join(name)).unwrap();
            assert_eq!((image.width(), image.height()), (WIDTH, HEIGHT));
            // Something was drawn: not every pixel is white.
            assert!(image.to_rgb8().pixels().any(|p| p.0 != [255, 255, 255]));
        }
    }
}
