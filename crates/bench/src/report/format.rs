//! How figures are printed: grouped numbers, ratios, MiB, and a target's status.

pub(super) fn num(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    if v >= 100.0 {
        let s = format!("{:.0}", v);
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

pub(super) fn opt(v: Option<f64>) -> String {
    v.map_or("—".into(), num)
}

pub(super) fn count(v: Option<f64>) -> String {
    v.map_or("—".into(), |x| {
        if x.fract() == 0.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        }
    })
}

pub(super) fn ratio(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite()).map_or("—".into(), |x| {
        if x >= 10.0 {
            format!("{x:.0}×")
        } else {
            format!("{x:.2}×")
        }
    })
}

pub(super) fn mib(kib: Option<u64>) -> String {
    kib.map_or("—".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

pub(super) fn div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

pub(super) enum Status {
    Met,
    Missed,
    NotMeasured(String),
}

impl Status {
    pub(super) fn from(measured: Option<bool>, why: &str) -> Self {
        match measured {
            Some(true) => Status::Met,
            Some(false) => Status::Missed,
            None => Status::NotMeasured(why.into()),
        }
    }
    pub(super) fn text(&self) -> String {
        match self {
            Status::Met => "**met**".into(),
            Status::Missed => "**missed**".into(),
            Status::NotMeasured(why) => format!("not measured ({why})"),
        }
    }
}
