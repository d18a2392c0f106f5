//! Draws `docs/benchmarks.svg`: on top, every B1/B2/B4 case as time ÷ hand-written Rust on a log
//! scale (generated code and each peer, a line at 1×); below, B5 GEMM GF/s, ours against numpy.
//!
//! The data preparation (`ratio_panel`, `gemm_panel`) is separate from the drawing so it can be
//! tested without looking at pixels.

use crate::results::{gemm_gflops, peer_tools_of, ratio, Case, Results, GENERATED, HAND};
use crate::targets::short_name;
use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::error::Error;
use std::ops::Range;
use std::path::Path;

const WIDTH: u32 = 1200;
/// The column right of each chart that holds its legend.
const LEGEND_WIDTH: u32 = 200;
const RATIO_PANEL_HEIGHT: u32 = 500;
const GEMM_PANEL_HEIGHT: u32 = 420;
const FONT: &str = "sans-serif";

/// Colour-blind-safe colours (Okabe–Ito).
const BLUE: RGBColor = RGBColor(0, 114, 178);
const ORANGE: RGBColor = RGBColor(230, 159, 0);
const VERMILLION: RGBColor = RGBColor(213, 94, 0);
const GREEN: RGBColor = RGBColor(0, 158, 115);
const OTHERS: [RGBColor; 3] = [
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(100, 100, 100), // grey
];

/// Colour and marker of a series. Each tool keeps its look from one report to the next, whatever
/// else was measured; series 0 is always ours.
fn series_style(name: &str, index: usize) -> (RGBColor, usize) {
    match name {
        _ if index == 0 => (BLUE, 0),
        "jax-jit" => (ORANGE, 1),
        "pytorch-eager" => (VERMILLION, 2),
        "numpy-hand" | "numpy" => (GREEN, 3),
        _ => (OTHERS[index % OTHERS.len()], 4),
    }
}

/// One named series of values, one value per category (or none where not measured).
#[derive(Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

/// Categories along the x axis, grouped under headings (the workload, or GEMM precision and size).
#[derive(Debug, PartialEq)]
pub struct Panel {
    pub labels: Vec<String>,
    /// (heading, first category, one past the last) for each group of categories.
    pub groups: Vec<(String, usize, usize)>,
    pub series: Vec<Series>,
}

impl Panel {
    fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
    }
}

/// Time ÷ hand-written Rust for the generated code and each peer, on every case with a hand time.
pub fn ratio_panel(results: &Results) -> Panel {
    let cases: Vec<&Case> = results
        .cases
        .iter()
        .filter(|c| c.key.variant.is_none() && c.rust_ns(HAND).is_some())
        .collect();

    let hand = |c: &Case| c.rust_ns(HAND);
    let mut series = vec![Series {
        name: "generated Rust".into(),
        values: cases
            .iter()
            .map(|c| ratio(c.rust_ns(GENERATED), hand(c)))
            .collect(),
    }];
    for tool in peer_tools_of(cases.iter().copied()) {
        series.push(Series {
            values: cases
                .iter()
                .map(|c| ratio(c.peer_ns(&tool), hand(c)))
                .collect(),
            name: tool,
        });
    }
    Panel {
        labels: cases
            .iter()
            .map(|c| format!("{} {}", c.key.precision, c.key.param))
            .collect(),
        groups: groups_of(&cases, |c| workload_heading(&c.key.workload)),
        series,
    }
}

/// GF/s of our default kernel and of each peer on every GEMM case.
pub fn gemm_panel(results: &Results) -> Panel {
    let cases: Vec<&Case> = results
        .cases
        .iter()
        .filter(|c| c.key.variant.is_some())
        .collect();
    let gflops = |c: &Case, ns: Option<f64>| c.size().zip(ns).and_then(|(n, t)| gemm_gflops(n, t));
    let mut series = vec![Series {
        name: "ours (default kernel)".into(),
        values: cases
            .iter()
            .map(|c| gflops(c, c.rust_ns(&c.key.precision)))
            .collect(),
    }];
    for tool in peer_tools_of(cases.iter().copied()) {
        series.push(Series {
            values: cases.iter().map(|c| gflops(c, c.peer_ns(&tool))).collect(),
            name: tool,
        });
    }
    Panel {
        labels: cases
            .iter()
            .map(|c| c.key.variant.clone().unwrap_or_default())
            .collect(),
        groups: groups_of(&cases, |c| format!("{} {}", c.key.precision, c.key.param)),
        series,
    }
}

fn workload_heading(workload: &str) -> String {
    let what = match workload {
        "b1_mlp" => " MLP gradient",
        "b2_hessian" | "b2_literal_hessian" => " Hessian",
        "b3_rosenbrock" => " Rosenbrock gradient",
        "b4_jacobian" => " Jacobian",
        _ => "",
    };
    format!("{}{what}", short_name(workload))
}

/// Runs of consecutive cases with the same heading.
fn groups_of(cases: &[&Case], heading: impl Fn(&Case) -> String) -> Vec<(String, usize, usize)> {
    let mut groups: Vec<(String, usize, usize)> = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let name = heading(case);
        match groups.last_mut() {
            Some((last, _, end)) if *last == name => *end = i + 1,
            _ => groups.push((name, i, i + 1)),
        }
    }
    groups
}

/// Writes the SVG: a title naming the machine, the ratio panel, the GEMM panel.
pub fn draw(path: &Path, results: &Results, title: &str) -> Result<(), Box<dyn Error>> {
    let height = 50 + RATIO_PANEL_HEIGHT + GEMM_PANEL_HEIGHT;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, (FONT, 22))?;
    let (top, bottom) = root.split_vertically(RATIO_PANEL_HEIGHT);
    draw_ratios(&top, &ratio_panel(results))?;
    draw_gemm(&bottom, &gemm_panel(results))?;
    root.present()?;
    Ok(())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// How a legend entry is drawn: like the series it names.
#[derive(Clone, Copy)]
enum Swatch {
    Line,
    Marker(usize),
    Bar,
}

fn draw_ratios(area: &Area, panel: &Panel) -> Result<(), Box<dyn Error>> {
    let caption = "B1, B2, B4: time ÷ hand-written Rust (log scale, lower is better)";
    if panel.labels.is_empty() {
        return draw_empty(area, caption);
    }
    let (area, legend_area) = area.split_horizontally(WIDTH - LEGEND_WIDTH);
    let (lowest, highest) = panel
        .values()
        .fold((1.0f64, 1.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    // Headroom above for the group headings, and below so markers clear the axis.
    let y_range = (lowest / 1.6)..(highest * 2.5);
    let ticks = one_two_five_ticks(&y_range);
    let mut chart = ChartBuilder::on(&area)
        .caption(caption, (FONT, 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(
            category_axis(panel.labels.len()),
            y_range.log_scale().with_key_points(ticks),
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(panel.labels.len())
        .x_label_formatter(&|x| category_label(&panel.labels, *x))
        .x_label_style((FONT, 13))
        .y_desc("time ÷ hand-written Rust")
        .y_label_formatter(&|y| format!("{}×", crate::format::short(*y)))
        .y_label_style((FONT, 13))
        .light_line_style(TRANSPARENT)
        .draw()?;
    draw_group_separators(&mut chart, panel)?;
    let x_end = panel.labels.len() as f64 - 0.5;
    chart.draw_series(LineSeries::new(
        [(-0.5, 1.0), (x_end, 1.0)],
        BLACK.stroke_width(2),
    ))?;

    // Series side by side within a category, so equal values do not hide each other.
    let count = panel.series.len();
    let mut legend = vec![("hand-written Rust = 1×".to_string(), BLACK, Swatch::Line)];
    for (index, series) in panel.series.iter().enumerate() {
        let (color, shape) = series_style(&series.name, index);
        let offset = (index as f64 - (count as f64 - 1.0) / 2.0) * 0.12;
        let points = series
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i as f64 + offset, v)));
        chart.draw_series(
            points.map(|p| EmptyElement::at(p) + Polygon::new(marker_shape(shape), color.filled())),
        )?;
        legend.push((series.name.clone(), color, Swatch::Marker(shape)));
    }
    draw_legend(&legend_area, &legend)
}

fn draw_gemm(area: &Area, panel: &Panel) -> Result<(), Box<dyn Error>> {
    let caption = "B5 GEMM throughput (GF/s, higher is better)";
    if panel.labels.is_empty() {
        return draw_empty(area, caption);
    }
    let (area, legend_area) = area.split_horizontally(WIDTH - LEGEND_WIDTH);
    let highest = panel.values().fold(1.0f64, f64::max);
    let mut chart = ChartBuilder::on(&area)
        .caption(caption, (FONT, 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(category_axis(panel.labels.len()), 0.0..highest * 1.15)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(panel.labels.len())
        .x_label_formatter(&|x| category_label(&panel.labels, *x))
        .x_label_style((FONT, 13))
        .y_desc("GF/s")
        .y_label_formatter(&|y| crate::format::short(*y))
        .y_label_style((FONT, 13))
        .light_line_style(TRANSPARENT)
        .draw()?;
    draw_group_separators(&mut chart, panel)?;

    // Bars side by side inside each category, 80 % of its width in all.
    let width = 0.8 / panel.series.len() as f64;
    let mut legend = Vec::new();
    for (index, series) in panel.series.iter().enumerate() {
        let (color, _) = series_style(&series.name, index);
        let left = -0.4 + index as f64 * width;
        let bars = series.values.iter().enumerate().filter_map(|(i, v)| {
            let x = i as f64 + left;
            v.map(|v| Rectangle::new([(x, 0.0), (x + width * 0.9, v)], color.filled()))
        });
        chart.draw_series(bars)?;
        legend.push((series.name.clone(), color, Swatch::Bar));
    }
    draw_legend(&legend_area, &legend)
}

/// The legend in its own column right of the chart, where it cannot cover a point.
fn draw_legend(area: &Area, entries: &[(String, RGBColor, Swatch)]) -> Result<(), Box<dyn Error>> {
    let text_style = TextStyle::from((FONT, 14)).pos(Pos::new(HPos::Left, VPos::Center));
    for (row, (name, color, swatch)) in entries.iter().enumerate() {
        let (x, y) = (8, 70 + 24 * row as i32);
        match swatch {
            Swatch::Line => area.draw(&PathElement::new(
                [(x, y), (x + 22, y)],
                color.stroke_width(2),
            ))?,
            Swatch::Marker(shape) => area.draw(
                &(EmptyElement::at((x + 11, y))
                    + Polygon::new(marker_shape(*shape), color.filled())),
            )?,
            Swatch::Bar => area.draw(&Rectangle::new(
                [(x + 4, y - 6), (x + 18, y + 6)],
                color.filled(),
            ))?,
        }
        area.draw(&Text::new(name.clone(), (x + 30, y), text_style.clone()))?;
    }
    Ok(())
}

/// 1-2-5 ticks inside `range`: …, 0.5, 1, 2, 5, 10, ….
fn one_two_five_ticks(range: &Range<f64>) -> Vec<f64> {
    (-4..=5)
        .flat_map(|exponent| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(exponent)))
        .filter(|tick| range.contains(tick))
        .collect()
}

/// Categories sit at 0, 1, 2, …; asking for as many labels as categories puts a tick on each.
fn category_axis(count: usize) -> Range<f64> {
    -0.5..count as f64 - 0.5
}

/// The category at an integer position; nothing between categories.
fn category_label(labels: &[String], x: f64) -> String {
    if (x - x.round()).abs() > 1e-6 || x < 0.0 {
        return String::new();
    }
    labels.get(x.round() as usize).cloned().unwrap_or_default()
}

/// A light vertical line between groups and each group's heading at the top.
fn draw_group_separators<X, Y>(
    chart: &mut ChartContext<SVGBackend, Cartesian2d<X, Y>>,
    panel: &Panel,
) -> Result<(), Box<dyn Error>>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let Range {
        start: bottom,
        end: top,
    } = chart.y_range();
    let separators = panel.groups.iter().skip(1).map(|(_, start, _)| {
        let x = *start as f64 - 0.5;
        PathElement::new([(x, bottom), (x, top)], BLACK.mix(0.3))
    });
    chart.draw_series(separators)?;
    let heading_style = TextStyle::from((FONT, 15))
        .pos(Pos::new(HPos::Center, VPos::Top))
        .color(&BLACK);
    let headings = panel.groups.iter().map(|(name, start, end)| {
        let middle = (*start + *end) as f64 / 2.0 - 0.5;
        Text::new(name.clone(), (middle, top), heading_style.clone())
    });
    chart.draw_series(headings)?;
    Ok(())
}

/// A marker outline, in pixels around the point, that differs per series so the plot also reads
/// without colour: circle, triangle, square, diamond, inverted triangle.
fn marker_shape(shape: usize) -> Vec<(i32, i32)> {
    match shape % 5 {
        0 => (0..16)
            .map(|k| {
                let angle = k as f64 * std::f64::consts::TAU / 16.0;
                (
                    (6.0 * angle.cos()).round() as i32,
                    (6.0 * angle.sin()).round() as i32,
                )
            })
            .collect(),
        1 => vec![(0, -7), (6, 5), (-6, 5)],
        2 => vec![(-5, -5), (5, -5), (5, 5), (-5, 5)],
        3 => vec![(0, -7), (7, 0), (0, 7), (-7, 0)],
        _ => vec![(0, 7), (6, -5), (-6, -5)],
    }
}

/// A panel with nothing measured still says what would be there.
fn draw_empty(area: &Area, caption: &str) -> Result<(), Box<dyn Error>> {
    let (width, height) = area.dim_in_pixel();
    let centered = Pos::new(HPos::Center, VPos::Center);
    area.draw_text(
        caption,
        &TextStyle::from((FONT, 18)).pos(centered),
        (width as i32 / 2, height as i32 / 2 - 14),
    )?;
    area.draw_text(
        "(not measured)",
        &TextStyle::from((FONT, 15)).pos(centered),
        (width as i32 / 2, height as i32 / 2 + 14),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{peer, rust};
    use crate::peers::PeersFile;

    fn sample() -> Results {
        let peers = PeersFile {
            results: vec![
                peer("b1_mlp", "f64", "B=64", None, "pytorch-eager", 300.0),
                peer("b1_mlp", "f64", "B=64", None, "jax-jit", 200.0),
                peer("b2_hessian", "f64", "n=100", None, "jax-jit", 50.0),
                peer("b5_gemm", "f64", "n=256", Some("A·B"), "numpy", 1.0e6),
            ],
            ..Default::default()
        };
        Results::merge(
            &[
                rust("b1_mlp/f64/B=64", None, "hand", 100.0),
                rust("b1_mlp/f64/B=64", None, "generated", 110.0),
                rust("b1_mlp/f64/B=1024", None, "hand", 1000.0),
                rust("b2_hessian/f64/n=100", None, "hand", 25.0),
                // No hand time: nothing to divide by, so no category.
                rust("b4_jacobian/f64/n=100", None, "generated", 10.0),
                rust("b5_gemm/n=256", Some("f64"), "A·B", 0.5e6),
                rust("b5_gemm/n=256", Some("f64-other"), "A·B", 0.1e6),
            ],
            Some(&peers),
        )
    }

    #[test]
    fn ratio_panel_divides_by_the_hand_time() {
        let panel = ratio_panel(&sample());
        assert_eq!(panel.labels, ["f64 B=64", "f64 B=1024", "f64 n=100"]);
        assert_eq!(
            panel.groups,
            [
                ("B1 MLP gradient".to_string(), 0, 2),
                ("B2 Hessian".to_string(), 2, 3)
            ]
        );
        let names: Vec<&str> = panel.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["generated Rust", "jax-jit", "pytorch-eager"]);
        assert_eq!(panel.series[0].values, [Some(1.1), None, None]);
        assert_eq!(panel.series[1].values, [Some(2.0), None, Some(2.0)]);
        assert_eq!(panel.series[2].values, [Some(3.0), None, None]);
    }

    #[test]
    fn gemm_panel_shows_the_default_kernel_against_numpy() {
        let panel = gemm_panel(&sample());
        assert_eq!(panel.labels, ["A·B"]);
        assert_eq!(panel.groups, [("f64 n=256".to_string(), 0, 1)]);
        // 2·256³ = 33.55 Mflop: 67.1 GF/s in 0.5 ms, 33.6 GF/s in 1 ms.
        let ours = panel.series[0].values[0].unwrap();
        let numpy = panel.series[1].values[0].unwrap();
        assert!((ours - 67.108864).abs() < 1e-6, "{ours}");
        assert!((numpy - 33.554432).abs() < 1e-6, "{numpy}");
    }

    #[test]
    fn log_ticks_follow_one_two_five() {
        assert_eq!(
            one_two_five_ticks(&(0.3..25.0)),
            [0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
        );
    }

    #[test]
    fn draws_an_svg_with_both_panels_and_the_legend() {
        let path = std::env::temp_dir().join(format!("bench-report-{}.svg", std::process::id()));
        draw(&path, &sample(), "title on test machine").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        for text in [
            "title on test machine",
            "B1 MLP gradient",
            "hand-written Rust = 1×",
            "pytorch-eager",
            "B5 GEMM throughput",
            "ours (default kernel)",
        ] {
            assert!(svg.contains(text), "no {text:?} in the SVG");
        }
    }

    #[test]
    fn draws_placeholders_when_nothing_was_measured() {
        let path =
            std::env::temp_dir().join(format!("bench-report-empty-{}.svg", std::process::id()));
        draw(&path, &Results::default(), "empty").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(svg.matches("(not measured)").count(), 2);
    }
}
