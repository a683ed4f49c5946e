//! A stacked bar chart drawn on the server as SVG: readable without JavaScript, named for
//! assistive technology (`role="img"`, a `<title>` and a `<desc>`). Pages put the same figures in
//! a table beside it.

use leptos::prelude::*;

/// One series: its name (legend and table heading) and its fill.
#[derive(Debug, Clone, Copy)]
pub struct Series {
    pub name: &'static str,
    pub color: &'static str,
}

const W: f64 = 720.0;
const H: f64 = 200.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 26.0;
const AXIS: &str = "#8a94a6";
const TEXT: &str = "#4a5568";

/// A round ceiling for the axis: 1, 2 or 5 times a power of ten.
fn nice_max(max: i64) -> i64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if step * m >= max {
                return (step * m).max(1);
            }
        }
        step *= 10;
    }
}

/// `bars[i]` holds bar `i`'s value for each series, in `series` order; `labels[i]` is shown under
/// bar `i` when `label_every` divides `i`. `id` makes the title's id unique on the page.
#[component]
pub fn StackedBars(
    id: &'static str,
    title: String,
    description: String,
    series: Vec<Series>,
    labels: Vec<String>,
    bars: Vec<Vec<i64>>,
    #[prop(default = 1)] label_every: usize,
) -> impl IntoView {
    let top = nice_max(
        bars.iter()
            .map(|b| b.iter().sum::<i64>())
            .max()
            .unwrap_or(0),
    );
    let n = bars.len().max(1) as f64;
    let slot = (W - LEFT - RIGHT) / n;
    let bar_w = (slot * 0.72).max(1.0);
    let y_of = |v: i64| H - BOTTOM - (H - TOP - BOTTOM) * (v as f64 / top as f64);
    let grid: Vec<i64> = vec![0, top / 2, top];
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    let labelled_by = format!("{title_id} {desc_id}");
    let rects = bars
        .iter()
        .enumerate()
        .flat_map(|(i, values)| {
            let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
            let mut below = 0;
            values
                .iter()
                .zip(series.iter())
                .filter(|(v, _)| **v > 0)
                .map(|(v, s)| {
                    let (y0, y1) = (y_of(below), y_of(below + v));
                    below += v;
                    (x, y1, (y0 - y1).max(0.5), s.color)
                })
                .collect::<Vec<_>>()
        })
        .map(|(x, y, h, color)| {
            view! { <rect x=format!("{x:.1}") y=format!("{y:.1}") width=format!("{bar_w:.1}") height=format!("{h:.1}") fill=color/> }
        })
        .collect_view();
    let ticks = labels
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % label_every.max(1) == 0)
        .map(|(i, label)| {
            let x = LEFT + slot * i as f64 + slot / 2.0;
            view! { <text x=format!("{x:.1}") y=H - 8.0 font-size="11" text-anchor="middle" fill=TEXT>{label}</text> }
        })
        .collect_view();
    let lines = grid
        .into_iter()
        .map(|v| {
            let y = y_of(v);
            view! {
                <line x1=LEFT y1=format!("{y:.1}") x2=W - RIGHT y2=format!("{y:.1}") stroke=if v == 0 { AXIS } else { "#e3e7ee" }/>
                <text x=LEFT - 6.0 y=format!("{:.1}", y + 4.0) font-size="11" text-anchor="end" fill=TEXT>{crate::ui::format::count(v)}</text>
            }
        })
        .collect_view();
    let legend = series
        .iter()
        .map(|s| {
            view! {
                <li><span class="swatch" style=format!("background:{}", s.color) aria-hidden="true"></span>{s.name}</li>
            }
        })
        .collect_view();
    view! {
        <svg viewBox=format!("0 0 {W} {H}") width="100%" role="img" class="chart chart-wide"
            aria-labelledby=labelled_by>
            <title id=title_id>{title}</title>
            <desc id=desc_id>{description}</desc>
            {lines}
            {rects}
            {ticks}
        </svg>
        <ul class="legend">{legend}</ul>
    }
}

#[cfg(test)]
mod tests {
    use super::nice_max;

    #[test]
    fn the_axis_ends_on_a_round_number_at_or_above_the_tallest_bar() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(1), 1);
        assert_eq!(nice_max(3), 5);
        assert_eq!(nice_max(12_480), 20_000);
        assert_eq!(nice_max(50), 50);
    }
}
