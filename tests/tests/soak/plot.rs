//! The soak run's plot: an SVG with one panel per metric (one line per node) and one of the
//! load (operations per second), time in minutes on every x axis, disruptions (membership
//! changes, restarts) as grey vertical lines. Drawn with `plotters`' SVG backend; text is SVG
//! `<text>`, so no font is loaded.

use std::path::Path;

use plotters::prelude::*;

use super::sample::{LoadSample, Metric, Sample};

/// Points per line at most (keeps an hour's SVG well under 300 KB).
const MAX_POINTS: usize = 300;

const NODE_COLORS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
];

/// A line of a panel: its name in the legend, its colour, its points (minutes, value or gap).
type Line = (String, RGBColor, Vec<(f64, Option<f64>)>);

/// Every `step`-th element so that at most [`MAX_POINTS`] remain (the last one always kept).
fn thin<T: Clone>(items: &[T]) -> Vec<T> {
    let step = items.len().div_ceil(MAX_POINTS).max(1);
    let mut out: Vec<T> = items.iter().step_by(step).cloned().collect();
    if let Some(last) = items.last() {
        if !(items.len() - 1).is_multiple_of(step) {
            out.push(last.clone());
        }
    }
    out
}

/// Splits a node's points into runs without gaps (a node that was down has no value).
fn segments(points: &[(f64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![Vec::new()];
    for &(t, v) in points {
        match v {
            Some(v) => out.last_mut().expect("never empty").push((t, v)),
            None if !out.last().expect("never empty").is_empty() => out.push(Vec::new()),
            None => {}
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Draws the plot of a run into `path`: `title` on top, `nodes` nodes' `samples`, the `load`
/// and the `events` (seconds since the load started, what happened).
pub fn draw(
    path: &Path,
    title: &str,
    nodes: usize,
    samples: &[Sample],
    load: &[LoadSample],
    events: &[(f64, String)],
) -> Result<(), String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1200, 1400)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let root = root
            .titled(title, ("sans-serif", 20))
            .map_err(|e| e.to_string())?;
        let panels = root.split_evenly((4, 2));
        let x_max = samples
            .iter()
            .map(|s| s.t / 60.0)
            .chain(load.iter().map(|l| l.t / 60.0))
            .fold(0.1, f64::max);
        let event_minutes: Vec<f64> = events.iter().map(|(t, _)| t / 60.0).collect();
        for (area, metric) in panels.iter().zip(Metric::ALL) {
            let lines: Vec<Line> = (0..nodes)
                .map(|n| {
                    let points: Vec<(f64, Option<f64>)> = samples
                        .iter()
                        .filter(|s| s.node == n)
                        .map(|s| (s.t / 60.0, s.get(metric)))
                        .collect();
                    (format!("node {}", n + 1), NODE_COLORS[n % 3], thin(&points))
                })
                .collect();
            panel(area, metric.title(), x_max, &event_minutes, &lines)?;
        }
        type Rate = fn(&LoadSample) -> f64;
        let rates: [(&str, RGBColor, Rate); 4] = [
            ("writes/s", NODE_COLORS[0], |l| l.writes_per_s),
            ("local reads/s", NODE_COLORS[2], |l| l.reads_per_s),
            ("consistent reads/s", RGBColor(148, 103, 189), |l| {
                l.consistent_reads_per_s
            }),
            ("errors/s", NODE_COLORS[1], |l| l.errors_per_s),
        ];
        let load_lines: Vec<Line> = rates
            .into_iter()
            .map(|(name, color, f)| {
                let points: Vec<(f64, Option<f64>)> =
                    load.iter().map(|l| (l.t / 60.0, Some(f(l)))).collect();
                (name.to_string(), color, thin(&points))
            })
            .collect();
        panel(
            &panels[Metric::ALL.len()],
            "load, whole cluster (operations/s)",
            x_max,
            &event_minutes,
            &load_lines,
        )?;
        root.present().map_err(|e| e.to_string())?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(path, svg).map_err(|e| format!("{}: {e}", path.display()))
}

/// One panel: `lines` (name, colour, points in minutes) over `0..x_max`, y from 0 to a bit
/// above the largest value, grey vertical lines at `events`.
fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    x_max: f64,
    events: &[f64],
    lines: &[Line],
) -> Result<(), String> {
    let y_max = lines
        .iter()
        .flat_map(|(_, _, p)| p.iter().filter_map(|(_, v)| *v))
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("minutes")
        .x_labels(8)
        .y_labels(6)
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| e.to_string())?;
    let grey = ShapeStyle::from(&BLACK.mix(0.25));
    chart
        .draw_series(
            events
                .iter()
                .map(|&t| PathElement::new(vec![(t, 0.0), (t, y_max)], grey)),
        )
        .map_err(|e| e.to_string())?;
    for (name, color, points) in lines {
        let style = ShapeStyle::from(color).stroke_width(1);
        let mut labelled = false;
        for segment in segments(points) {
            let series = chart
                .draw_series(LineSeries::new(segment, style))
                .map_err(|e| e.to_string())?;
            if !labelled {
                let color = *color;
                series
                    .label(name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
                labelled = true;
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 11))
        .draw()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_split_lines_and_thinning_keeps_the_ends() {
        let points = [
            (0.0, Some(1.0)),
            (1.0, None),
            (2.0, Some(2.0)),
            (3.0, Some(3.0)),
        ];
        assert_eq!(
            segments(&points),
            vec![vec![(0.0, 1.0)], vec![(2.0, 2.0), (3.0, 3.0)]]
        );
        let many: Vec<usize> = (0..1000).collect();
        let thinned = thin(&many);
        assert!(thinned.len() <= MAX_POINTS + 1, "{}", thinned.len());
        assert_eq!(thinned.first(), Some(&0));
        assert_eq!(thinned.last(), Some(&999));
    }
}
