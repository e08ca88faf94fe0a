//! Line charts as standalone SVG text, hand-written: the report needs a handful of lines on
//! two kinds of axis (categories such as concurrency levels, or seconds), and a plotting crate
//! would cost more compile time than these two hundred lines.
//!
//! Every point carries a `<title>` with its series name and value, so a browser shows the exact
//! figure on hover, and the test can find every plotted value in the text.

use std::fmt::Write as _;

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    /// (x, y) in data units; points whose y is not finite and positive are left out.
    pub points: Vec<(f64, f64)>,
}

/// The x axis.
#[derive(Debug, Clone)]
pub enum XAxis {
    /// Evenly spaced labels; a point's x is the label's index.
    Categories(Vec<String>),
    /// A linear axis from 0 to the largest x.
    Linear,
}

/// A chart: title, axes and lines.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x: XAxis,
    /// Logarithmic y axis (figures that span decades: Python against Rust).
    pub log_y: bool,
    pub lines: Vec<Line>,
}

const WIDTH: f64 = 760.0;
const PLOT_H: f64 = 300.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 40.0;
const LEGEND_ROW: f64 = 18.0;
const COLORS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// Text safe inside an XML element or attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A value as the report prints it: grouped thousands, few decimals.
pub fn value_text(v: f64) -> String {
    if v >= 100.0 {
        let s = format!("{v:.0}");
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        out
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Maps data to pixels.
struct Scale {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    log_y: bool,
}

impl Scale {
    fn x(&self, x: f64) -> f64 {
        let span = (self.x1 - self.x0).max(f64::EPSILON);
        LEFT + (x - self.x0) / span * (WIDTH - LEFT - RIGHT)
    }
    fn y(&self, y: f64) -> f64 {
        let (v, lo, hi) = if self.log_y {
            (y.log10(), self.y0.log10(), self.y1.log10())
        } else {
            (y, self.y0, self.y1)
        };
        let span = (hi - lo).max(f64::EPSILON);
        TOP + PLOT_H - (v - lo) / span * PLOT_H
    }
}

/// Rounds up to 1, 2 or 5 × a power of ten.
fn nice_ceil(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * p)
}

impl Chart {
    fn points(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.lines
            .iter()
            .flat_map(|l| l.points.iter().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite() && *y > 0.0)
    }

    /// True when no line has a point to draw.
    pub fn is_empty(&self) -> bool {
        self.points().next().is_none()
    }

    fn scale(&self) -> Scale {
        let (mut ymin, mut ymax, mut xmax) = (f64::INFINITY, 0f64, 0f64);
        for (x, y) in self.points() {
            ymin = ymin.min(y);
            ymax = ymax.max(y);
            xmax = xmax.max(x);
        }
        if !ymin.is_finite() {
            (ymin, ymax) = (1.0, 10.0);
        }
        let (x0, x1) = match &self.x {
            XAxis::Categories(c) => (-0.5, c.len().max(1) as f64 - 0.5),
            XAxis::Linear => (0.0, nice_ceil(xmax)),
        };
        let (y0, y1) = if self.log_y {
            let lo = 10f64.powf(ymin.log10().floor());
            let hi = 10f64.powf(ymax.log10().ceil());
            (lo, if hi <= lo { lo * 10.0 } else { hi })
        } else {
            (0.0, nice_ceil(ymax))
        };
        Scale {
            x0,
            x1,
            y0,
            y1,
            log_y: self.log_y,
        }
    }

    fn y_ticks(&self, s: &Scale) -> Vec<f64> {
        if s.log_y {
            let mut t = Vec::new();
            let mut v = s.y0;
            while v <= s.y1 * 1.0001 {
                t.push(v);
                if s.y1 / s.y0 <= 100.0 {
                    for m in [2.0, 5.0] {
                        if v * m < s.y1 {
                            t.push(v * m);
                        }
                    }
                }
                v *= 10.0;
            }
            t
        } else {
            (0..=5).map(|i| s.y1 * i as f64 / 5.0).collect()
        }
    }

    fn x_ticks(&self, s: &Scale) -> Vec<(f64, String)> {
        match &self.x {
            XAxis::Categories(c) => c
                .iter()
                .enumerate()
                .map(|(i, l)| (i as f64, l.clone()))
                .collect(),
            XAxis::Linear => (0..=5)
                .map(|i| {
                    let v = s.x1 * i as f64 / 5.0;
                    (v, value_text(v))
                })
                .collect(),
        }
    }

    /// The chart as a standalone SVG document.
    pub fn to_svg(&self) -> String {
        let s = self.scale();
        let height = TOP + PLOT_H + 50.0 + LEGEND_ROW * self.lines.len() as f64 + 10.0;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
             viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">"
        );
        let _ = writeln!(o, "<title>{}</title>", escape(&self.title));
        let _ = writeln!(
            o,
            "<rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{height}\" fill=\"white\"/>"
        );
        let _ = writeln!(
            o,
            "<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{}</text>",
            WIDTH / 2.0,
            escape(&self.title)
        );
        self.axes(&mut o, &s);
        self.plot_lines(&mut o, &s);
        self.legend(&mut o);
        o.push_str("</svg>\n");
        o
    }

    fn axes(&self, o: &mut String, s: &Scale) {
        let (left, right, bottom) = (LEFT, WIDTH - RIGHT, TOP + PLOT_H);
        for v in self.y_ticks(s) {
            let y = s.y(v);
            let _ = writeln!(
                o,
                "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{right}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                left - 6.0,
                y + 4.0,
                value_text(v)
            );
        }
        for (v, label) in self.x_ticks(s) {
            let x = s.x(v);
            let _ = writeln!(
                o,
                "<line x1=\"{x:.1}\" y1=\"{bottom}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                bottom + 5.0,
                bottom + 18.0,
                escape(&label)
            );
        }
        let _ = writeln!(
            o,
            "<rect x=\"{left}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{PLOT_H}\" fill=\"none\" stroke=\"#333\"/>",
            right - left
        );
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            (left + right) / 2.0,
            bottom + 36.0,
            escape(&self.x_label)
        );
        let _ = writeln!(
            o,
            "<text x=\"16\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {:.1})\">{}{}</text>",
            TOP + PLOT_H / 2.0,
            TOP + PLOT_H / 2.0,
            escape(&self.y_label),
            if self.log_y { " (log scale)" } else { "" }
        );
    }

    fn plot_lines(&self, o: &mut String, s: &Scale) {
        for (i, line) in self.lines.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let dash = if i >= COLORS.len() {
                " stroke-dasharray=\"6 3\""
            } else {
                ""
            };
            let pts: Vec<(f64, f64)> = line
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite() && *y > 0.0)
                .collect();
            let path: Vec<String> = pts
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", s.x(*x), s.y(*y)))
                .collect();
            if pts.len() > 1 {
                let _ = writeln!(
                    o,
                    "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
                    path.join(" ")
                );
            }
            // Long traces (RSS) get no markers; the line says enough.
            if pts.len() <= 50 {
                for (x, y) in &pts {
                    let _ = writeln!(
                        o,
                        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{color}\"><title>{}: {}</title></circle>",
                        s.x(*x),
                        s.y(*y),
                        escape(&line.name),
                        value_text(*y)
                    );
                }
            }
        }
    }

    fn legend(&self, o: &mut String) {
        let top = TOP + PLOT_H + 50.0;
        for (i, line) in self.lines.iter().enumerate() {
            let y = top + LEGEND_ROW * i as f64;
            let color = COLORS[i % COLORS.len()];
            let _ = writeln!(
                o,
                "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{color}\" stroke-width=\"3\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                LEFT + 24.0,
                LEFT + 30.0,
                y + 4.0,
                escape(&line.name)
            );
        }
    }
}

#[cfg(test)]
mod tests;
