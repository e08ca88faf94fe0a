//! The SVG writer: well-formed XML, every value plotted where the axes say.

use super::*;

/// A strict-enough XML well-formedness check: balanced, properly nested elements; quoted
/// attributes; no raw `<` or stray `&` in text or attribute values. Returns the element names
/// in document order.
fn check_xml(doc: &str) -> Result<Vec<String>, String> {
    let entity_ok = |s: &str| {
        s.split('&').skip(1).all(|rest| {
            ["amp;", "lt;", "gt;", "quot;", "apos;"]
                .iter()
                .any(|e| rest.starts_with(e))
        })
    };
    let mut stack: Vec<String> = Vec::new();
    let mut names = Vec::new();
    let mut rest = doc;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        if !entity_ok(text) {
            return Err(format!("bad entity in text {text:?}"));
        }
        let close = rest[open..].find('>').ok_or("unclosed tag")? + open;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack.pop().ok_or(format!("close {name} without open"))?;
            if top != name.trim() {
                return Err(format!("</{name}> closes <{top}>"));
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name: String = body.chars().take_while(|c| !c.is_whitespace()).collect();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == ':') {
            return Err(format!("bad element name in <{tag}>"));
        }
        let mut attrs = body[name.len()..].trim();
        while !attrs.is_empty() {
            let eq = attrs
                .find("=\"")
                .ok_or(format!("unquoted attribute in <{tag}>"))?;
            let key = &attrs[..eq];
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(format!("bad attribute name {key:?}"));
            }
            let end = attrs[eq + 2..].find('"').ok_or("unterminated value")? + eq + 2;
            let value = &attrs[eq + 2..end];
            if value.contains('<') || !entity_ok(value) {
                return Err(format!("bad attribute value {value:?}"));
            }
            attrs = attrs[end + 1..].trim_start();
        }
        names.push(name.clone());
        if !self_closing {
            stack.push(name);
        }
    }
    if !rest.trim().is_empty() || !stack.is_empty() {
        return Err(format!("unclosed elements {stack:?}"));
    }
    Ok(names)
}

fn chart(log_y: bool) -> Chart {
    Chart {
        title: "calls/s <by> concurrency & client".into(),
        x_label: "concurrency".into(),
        y_label: "calls/s".into(),
        x: XAxis::Categories(vec!["1".into(), "16".into(), "64".into()]),
        log_y,
        lines: vec![
            Line {
                name: "load generator → plugwire serve".into(),
                points: vec![(0.0, 12_000.0), (1.0, 41_496.4), (2.0, 40_000.0)],
            },
            Line {
                name: "Python client → \"runtime\"".into(),
                points: vec![(0.0, 300.0), (1.0, f64::NAN), (2.0, 450.0)],
            },
        ],
    }
}

#[test]
fn the_document_is_well_formed_xml_with_escaped_text() {
    for log_y in [true, false] {
        let svg = chart(log_y).to_svg();
        let names = check_xml(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        assert_eq!(names.first().map(String::as_str), Some("svg"));
        assert!(svg.contains("calls/s &lt;by&gt; concurrency &amp; client"));
        assert!(svg.contains("Python client → &quot;runtime&quot;"));
    }
    assert!(check_xml("<a><b></a></b>").is_err());
    assert!(check_xml("<a x=1></a>").is_err());
    assert!(check_xml("<a>1 & 2</a>").is_err());
}

#[test]
fn every_finite_value_is_plotted_once_and_others_are_left_out() {
    let svg = chart(true).to_svg();
    for value in ["12,000", "41,496", "40,000", "300", "450"] {
        let marker = format!(": {value}</title></circle>");
        assert_eq!(svg.matches(&marker).count(), 1, "{value} in\n{svg}");
    }
    assert_eq!(svg.matches("<circle").count(), 5);
    assert_eq!(svg.matches("<polyline").count(), 2);
}

#[test]
fn points_sit_where_the_axes_say() {
    // Log scale from 100 to 100,000: 41,496 is between the 10,000 and 100,000 gridlines,
    // higher (smaller y) than 12,000; 300 is between 100 and 1,000.
    let c = chart(true);
    let s = c.scale();
    assert_eq!((s.y0, s.y1), (100.0, 100_000.0));
    assert!((s.y(100.0) - (TOP + PLOT_H)).abs() < 1e-9);
    assert!((s.y(100_000.0) - TOP).abs() < 1e-9);
    assert!(s.y(41_496.4) < s.y(12_000.0));
    assert!(s.y(300.0) < s.y(100.0) && s.y(300.0) > s.y(1000.0));
    // Categories are evenly spaced inside the plot.
    assert!((s.x(1.0) - (LEFT + (WIDTH - LEFT - RIGHT) / 2.0)).abs() < 1e-9);
    // Linear scale starts at zero and ends at a round number above the largest value.
    let lin = chart(false).scale();
    assert_eq!((lin.y0, lin.y1), (0.0, 50_000.0));
}

#[test]
fn an_empty_chart_is_reported_empty_and_still_valid() {
    let c = Chart {
        lines: vec![Line {
            name: "nothing".into(),
            points: vec![(0.0, f64::NAN)],
        }],
        ..chart(true)
    };
    assert!(c.is_empty());
    check_xml(&c.to_svg()).unwrap();
    assert!(!chart(true).is_empty());
}

#[test]
fn linear_x_axis_for_traces() {
    let c = Chart {
        x: XAxis::Linear,
        log_y: false,
        lines: vec![Line {
            name: "RSS".into(),
            points: (0..200)
                .map(|i| (i as f64 * 0.25, 8.0 + (i % 3) as f64))
                .collect(),
        }],
        ..chart(false)
    };
    let svg = c.to_svg();
    check_xml(&svg).unwrap();
    // 200 points: a line without markers.
    assert_eq!(svg.matches("<circle").count(), 0);
    assert_eq!(c.scale().x1, 50.0);
}
