//! SVG markup for every BPMN shape, drawn to the BPMN 2.0 notation in the shape's local
//! coordinates (0,0 = top-left of its DI bounds).
//!
//! Every element carries a class (`bpmn-shape`, `bpmn-marker`, `bpmn-icon`, `bpmn-label`) for
//! styling *and* explicit `stroke`/`fill` attributes, so the same markup renders correctly in
//! a standalone SVG file. Text is always escaped.
//!
//! Choices where the notation leaves room:
//! - Exclusive gateways show the X unless the DI says `isMarkerVisible="false"`: files from
//!   tools that omit the attribute still show the marker most readers expect.
//! - Icon geometry is drawn in a 36×36 box (events), a 50×50 box (gateways) and a 20×20 box
//!   (task type icons) and scaled to the shape.

use std::fmt::Write as _;

/// Font size of every label, in diagram units.
pub const FONT_SIZE: f64 = 12.0;
/// Height of one line of label text.
pub const LINE_HEIGHT: f64 = 14.4;
/// Approximate advance of one character at [`FONT_SIZE`]; labels are wrapped by character
/// count because a pure-Rust crate cannot measure fonts.
pub const CHAR_WIDTH: f64 = 6.0;
/// Width of the name band of pools and lanes.
pub const BAND: f64 = 30.0;

/// Colours of one shape: DI colour extensions when present, black on white otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Colors {
    /// Outline and text colour.
    pub stroke: String,
    /// Fill colour.
    pub fill: String,
}

impl Default for Colors {
    fn default() -> Self {
        Colors {
            stroke: "#22242a".into(),
            fill: "#ffffff".into(),
        }
    }
}

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 forbids would make the markup unparseable.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// A number as SVG text: at most two decimals, no trailing zeros.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".into();
    }
    let r = (v * 100.0).round() / 100.0;
    let s = format!("{r:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_owned() }
}

/// Splits text into lines no wider than `width` (by the character-count estimate).
pub fn wrap(text: &str, width: f64) -> Vec<String> {
    let max = ((width / CHAR_WIDTH).floor() as usize).max(1);
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split_whitespace() {
            let mut word: Vec<char> = word.chars().collect();
            loop {
                let line_len = line.chars().count();
                let sep = usize::from(line_len > 0);
                if line_len + sep + word.len() <= max {
                    if sep == 1 {
                        line.push(' ');
                    }
                    line.extend(word.iter());
                    break;
                }
                if line_len > 0 {
                    lines.push(std::mem::take(&mut line));
                    continue;
                }
                // A word longer than a line is broken.
                let rest = word.split_off(max.min(word.len()));
                lines.push(word.iter().collect());
                word = rest;
                if word.is_empty() {
                    break;
                }
            }
        }
        if !line.is_empty() || para.trim().is_empty() && !text.trim().is_empty() {
            lines.push(line);
        }
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

/// Estimated width of a line of text.
pub fn text_width(line: &str) -> f64 {
    line.chars().count() as f64 * CHAR_WIDTH
}

fn text_open(out: &mut String, c: &Colors, anchor: &str) {
    let _ = write!(
        out,
        r#"<text class="bpmn-label" font-family="Arial, Helvetica, sans-serif" font-size="{}" fill="{}" text-anchor="{anchor}">"#,
        num(FONT_SIZE),
        escape(&c.stroke)
    );
}

/// Lines centred on `cx`, the block vertically centred on `cy`.
pub fn text_centered(out: &mut String, lines: &[String], cx: f64, cy: f64, c: &Colors) {
    if lines.is_empty() {
        return;
    }
    let top = cy - lines.len() as f64 * LINE_HEIGHT / 2.0;
    text_lines(out, lines, cx, top, "middle", c);
}

/// Lines anchored at `x` (per `anchor`), the first line's box starting at `top`.
pub fn text_lines(out: &mut String, lines: &[String], x: f64, top: f64, anchor: &str, c: &Colors) {
    if lines.is_empty() {
        return;
    }
    text_open(out, c, anchor);
    for (i, line) in lines.iter().enumerate() {
        // Baseline about 0.8 of the line height below the line's top.
        let y = top + i as f64 * LINE_HEIGHT + LINE_HEIGHT * 0.78;
        let _ = write!(
            out,
            r#"<tspan x="{}" y="{}">{}</tspan>"#,
            num(x),
            num(y),
            escape(line)
        );
    }
    out.push_str("</text>");
}

/// A label inside a box (tasks, collapsed sub-processes): wrapped, centred.
pub fn label_inside(out: &mut String, text: &str, w: f64, h: f64, c: &Colors) {
    label_inside_between(out, text, (w, h), (0.0, 0.0), c);
}

/// A label inside a box, kept between `top_reserved` pixels at the top (a task type icon)
/// and `bottom_reserved` at the bottom (markers) when it fits there, else centred.
fn label_inside_between(
    out: &mut String,
    text: &str,
    (w, h): (f64, f64),
    (top_reserved, bottom_reserved): (f64, f64),
    c: &Colors,
) {
    let lines = wrap(text, (w - 8.0).max(CHAR_WIDTH));
    let block = lines.len() as f64 * LINE_HEIGHT;
    let room = h - top_reserved - bottom_reserved;
    let mut top = (h - block) / 2.0;
    if block <= room {
        top = top.clamp(top_reserved, h - bottom_reserved - block);
    }
    text_lines(out, &lines, w / 2.0, top, "middle", c);
}

/// A label of an event, gateway or data element: at the DI label box when given (local
/// coordinates), else centred below the shape.
pub fn label_external(
    out: &mut String,
    text: &str,
    w: f64,
    h: f64,
    label: Option<(f64, f64, f64, f64)>,
    c: &Colors,
) {
    match label {
        Some((x, y, lw, _lh)) => {
            // DI label boxes are sized to the text by the tool that wrote them; allow a
            // little slack so the character estimate does not wrap their lines again.
            let lines = wrap(text, (lw * 1.2 + 6.0).max(60.0));
            text_lines(out, &lines, x + lw / 2.0, y, "middle", c);
        }
        None => {
            let lines = wrap(text, 90.0);
            text_lines(out, &lines, w / 2.0, h + 5.0, "middle", c);
        }
    }
}

fn shape_attrs(c: &Colors, width: f64) -> String {
    format!(
        r#"class="bpmn-shape" stroke="{}" fill="{}" stroke-width="{}""#,
        escape(&c.stroke),
        escape(&c.fill),
        num(width)
    )
}

/// Event outline flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRing {
    /// Start: one thin circle.
    Start,
    /// Intermediate and boundary: two thin circles.
    Intermediate,
    /// End: one thick circle.
    End,
}

/// What an event looks like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventLook<'a> {
    /// Outline flavour.
    pub ring: EventRing,
    /// Definition icons; several make a multiple event.
    pub icons: &'a [&'a str],
    /// Throwing events fill their icon.
    pub throw: bool,
    /// Non-interrupting: dashed outline.
    pub dashed: bool,
    /// Parallel multiple: a plus instead of the pentagon.
    pub parallel: bool,
}

/// An event: outline plus the icons of its definitions (several: multiple, pentagon;
/// `parallel`: parallel multiple, plus). `throw` fills the icon.
pub fn event(w: f64, h: f64, look: &EventLook<'_>, c: &Colors) -> String {
    let EventLook {
        ring,
        icons,
        throw,
        dashed,
        parallel,
    } = *look;
    let mut out = String::new();
    let (cx, cy) = (w / 2.0, h / 2.0);
    let r = (w.min(h) / 2.0).max(1.0);
    let dash = if dashed {
        r#" stroke-dasharray="5.5 3""#
    } else {
        ""
    };
    let width = match ring {
        EventRing::Start => 2.0,
        EventRing::Intermediate => 1.5,
        EventRing::End => 4.0,
    };
    let _ = write!(
        out,
        r#"<circle cx="{}" cy="{}" r="{}" {}{dash}/>"#,
        num(cx),
        num(cy),
        num(r),
        shape_attrs(c, width)
    );
    if ring == EventRing::Intermediate {
        let _ = write!(
            out,
            r#"<circle cx="{}" cy="{}" r="{}" class="bpmn-shape" stroke="{}" fill="none" stroke-width="1.5"{dash}/>"#,
            num(cx),
            num(cy),
            num((r - 3.0).max(1.0)),
            escape(&c.stroke)
        );
    }
    let icon = match icons {
        [] => None,
        [one] => Some(*one),
        _ if parallel => Some("parallelMultiple"),
        _ => Some("multiple"),
    };
    if let Some(icon) = icon {
        let s = r / 18.0;
        let _ = write!(
            out,
            r#"<g class="bpmn-icon" transform="translate({} {}) scale({})">"#,
            num(cx - 18.0 * s),
            num(cy - 18.0 * s),
            num(s)
        );
        out.push_str(&event_icon(icon, throw, c));
        out.push_str("</g>");
    }
    out
}

/// An event definition icon in a 36×36 box.
fn event_icon(icon: &str, throw: bool, c: &Colors) -> String {
    let stroke = escape(&c.stroke);
    let (fill, inner) = if throw {
        (stroke.clone(), escape(&c.fill))
    } else {
        ("none".to_owned(), stroke.clone())
    };
    let path = |d: &str| {
        format!(
            r#"<path d="{d}" stroke="{stroke}" fill="{fill}" stroke-width="1.2" stroke-linejoin="round"/>"#
        )
    };
    match icon {
        "message" => {
            let body_fill = if throw {
                stroke.clone()
            } else {
                escape(&c.fill)
            };
            format!(
                r#"<rect x="10" y="12.5" width="16" height="11" stroke="{stroke}" fill="{body_fill}" stroke-width="1.2"/><path d="M 10 12.5 L 18 18.5 L 26 12.5" stroke="{inner}" fill="none" stroke-width="1.2"/>"#
            )
        }
        "timer" => {
            let mut s = format!(
                r#"<circle cx="18" cy="18" r="10" stroke="{stroke}" fill="{}" stroke-width="1.5"/>"#,
                escape(&c.fill)
            );
            for i in 0..12 {
                let a = f64::from(i) * std::f64::consts::PI / 6.0;
                let (sin, cos) = a.sin_cos();
                let _ = write!(
                    s,
                    r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{stroke}" stroke-width="1"/>"#,
                    num(18.0 + 8.0 * cos),
                    num(18.0 + 8.0 * sin),
                    num(18.0 + 10.0 * cos),
                    num(18.0 + 10.0 * sin)
                );
            }
            let _ = write!(
                s,
                r#"<path d="M 18 18 L 18 11.5 M 18 18 L 22.5 15.5" stroke="{stroke}" fill="none" stroke-width="1.2"/>"#
            );
            s
        }
        "error" => path("M 10.5 25.5 L 14 12 L 19.5 19 L 24 10.5 L 21.5 24 L 16.5 17.5 Z"),
        "signal" => path("M 18 9.5 L 26 24 L 10 24 Z"),
        "escalation" => path("M 18 9 L 25 26 L 18 19.5 L 11 26 Z"),
        "compensation" => path("M 9 18 L 17 12.5 L 17 23.5 Z M 17 18 L 25 12.5 L 25 23.5 Z"),
        "conditional" => format!(
            r#"<rect x="11.5" y="10" width="13" height="16" stroke="{stroke}" fill="{}" stroke-width="1.2"/><path d="M 13.5 13.5 H 22.5 M 13.5 17 H 22.5 M 13.5 20.5 H 22.5 M 13.5 24 H 22.5" stroke="{stroke}" stroke-width="1"/>"#,
            escape(&c.fill)
        ),
        "link" => path("M 10 15 L 19 15 L 19 11 L 26.5 18 L 19 25 L 19 21 L 10 21 Z"),
        "terminate" => {
            format!(
                r#"<circle cx="18" cy="18" r="10" stroke="{stroke}" fill="{stroke}" stroke-width="1"/>"#
            )
        }
        "cancel" => path(
            "M 11 13 L 13 11 L 18 16 L 23 11 L 25 13 L 20 18 L 25 23 L 23 25 L 18 20 L 13 25 L 11 23 L 16 18 Z",
        ),
        "multiple" => path("M 18 9.5 L 26.5 15.7 L 23.3 25.5 L 12.7 25.5 L 9.5 15.7 Z"),
        "parallelMultiple" => {
            // Always drawn open: a parallel multiple event can only catch.
            format!(
                r#"<path d="M 15.5 9.5 H 20.5 V 15.5 H 26.5 V 20.5 H 20.5 V 26.5 H 15.5 V 20.5 H 9.5 V 15.5 H 15.5 Z" stroke="{stroke}" fill="none" stroke-width="1.2"/>"#
            )
        }
        _ => String::new(),
    }
}

/// What an activity looks like.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityLook {
    /// Task type icon: `service`, `script`, `user`, `manual`, `send`, `receive`,
    /// `businessRule`, or empty.
    pub icon: &'static str,
    /// Call activity: thick border.
    pub call: bool,
    /// Transaction: double border.
    pub transaction: bool,
    /// Event sub-process: dotted border.
    pub event_sub: bool,
    /// Collapsed sub-process or call activity of a process: [+] marker.
    pub collapsed: bool,
    /// Expanded sub-process: label at the top-left instead of centred.
    pub expanded: bool,
    /// `loop`, `parallel`, `sequential` or empty.
    pub loop_marker: &'static str,
    /// Compensation marker.
    pub compensation: bool,
    /// Ad-hoc marker (~).
    pub ad_hoc: bool,
}

/// A task, call activity or sub-process with its markers and label.
pub fn activity(w: f64, h: f64, look: &ActivityLook, name: Option<&str>, c: &Colors) -> String {
    let mut out = String::new();
    let width = if look.call { 5.0 } else { 2.0 };
    let dash = if look.event_sub {
        r#" stroke-dasharray="2 3""#
    } else {
        ""
    };
    let fill = escape(&c.fill);
    let _ = write!(
        out,
        r#"<rect x="0" y="0" width="{}" height="{}" rx="10" ry="10" class="bpmn-shape" stroke="{}" fill="{fill}" stroke-width="{}"{dash}/>"#,
        num(w.max(0.0)),
        num(h.max(0.0)),
        escape(&c.stroke),
        num(width)
    );
    if look.transaction {
        let _ = write!(
            out,
            r#"<rect x="3" y="3" width="{}" height="{}" rx="7" ry="7" class="bpmn-shape" stroke="{}" fill="none" stroke-width="1.5"/>"#,
            num((w - 6.0).max(0.0)),
            num((h - 6.0).max(0.0)),
            escape(&c.stroke)
        );
    }
    if !look.icon.is_empty() {
        out.push_str(r#"<g class="bpmn-icon" transform="translate(6 6)">"#);
        out.push_str(&task_icon(look.icon, c));
        out.push_str("</g>");
    }
    // Bottom-centre markers, side by side.
    let mut markers: Vec<&str> = Vec::new();
    if !look.loop_marker.is_empty() {
        markers.push(look.loop_marker);
    }
    if look.compensation {
        markers.push("compensation");
    }
    if look.collapsed {
        markers.push("collapsed");
    }
    if look.ad_hoc {
        markers.push("adHoc");
    }
    let step = 18.0;
    let total = markers.len() as f64 * step - 4.0;
    for (i, m) in markers.iter().enumerate() {
        let x = w / 2.0 - total / 2.0 + i as f64 * step;
        let _ = write!(
            out,
            r#"<g class="bpmn-marker" transform="translate({} {})">"#,
            num(x),
            num(h - 18.0)
        );
        out.push_str(&activity_marker(m, c));
        out.push_str("</g>");
    }
    if let Some(name) = name {
        if look.expanded {
            let lines = wrap(name, (w - 20.0).max(CHAR_WIDTH));
            let x = if look.icon.is_empty() { 10.0 } else { 30.0 };
            text_lines(&mut out, &lines, x, 6.0, "start", c);
        } else {
            let top = if look.icon.is_empty() { 0.0 } else { 22.0 };
            let bottom = if markers.is_empty() { 0.0 } else { 20.0 };
            label_inside_between(&mut out, name, (w, h), (top, bottom), c);
        }
    }
    out
}

/// A 14×14 activity marker.
fn activity_marker(m: &str, c: &Colors) -> String {
    let s = escape(&c.stroke);
    match m {
        "loop" => format!(
            r#"<path d="M 3.5 11 A 5 5 0 1 1 10.5 11" stroke="{s}" fill="none" stroke-width="1.5"/><path d="M 10.5 8 L 10.5 11.5 L 14 11.5" stroke="{s}" fill="none" stroke-width="1.5"/>"#
        ),
        "parallel" => format!(
            r#"<path d="M 3 1 V 13 M 7 1 V 13 M 11 1 V 13" stroke="{s}" fill="none" stroke-width="2"/>"#
        ),
        "sequential" => format!(
            r#"<path d="M 1 3 H 13 M 1 7 H 13 M 1 11 H 13" stroke="{s}" fill="none" stroke-width="2"/>"#
        ),
        "compensation" => format!(
            r#"<path d="M 0 7 L 7 2 L 7 12 Z M 7 7 L 14 2 L 14 12 Z" stroke="{s}" fill="none" stroke-width="1"/>"#
        ),
        "collapsed" => format!(
            r#"<rect x="0" y="0" width="14" height="14" stroke="{s}" fill="none" stroke-width="1"/><path d="M 7 3 V 11 M 3 7 H 11" stroke="{s}" stroke-width="1.5"/>"#
        ),
        "adHoc" => format!(
            r#"<path d="M 0 8 C 3 3 5 3 7 7 S 11 11 14 6" stroke="{s}" fill="none" stroke-width="1.5"/>"#
        ),
        _ => String::new(),
    }
}

/// A task type icon in a 20×20 box.
fn task_icon(icon: &str, c: &Colors) -> String {
    let s = escape(&c.stroke);
    let f = escape(&c.fill);
    match icon {
        "service" => {
            let mut out = String::new();
            // The gear outlines are constant: computed once.
            static GEARS: std::sync::OnceLock<[String; 2]> = std::sync::OnceLock::new();
            let gears =
                GEARS.get_or_init(|| [gear_path(7.0, 7.0, 6.5), gear_path(12.5, 12.5, 6.0)]);
            for (d, (cx, cy, r)) in gears.iter().zip([(7.0, 7.0, 6.5), (12.5, 12.5, 6.0)]) {
                let _ = write!(
                    out,
                    r#"<path d="{d}" stroke="{s}" fill="{f}" stroke-width="1"/><circle cx="{}" cy="{}" r="{}" stroke="{s}" fill="{f}" stroke-width="1"/>"#,
                    num(cx),
                    num(cy),
                    num(r * 0.35)
                );
            }
            out
        }
        "script" => format!(
            r#"<path d="M 4 1 H 16 C 13 4 13 7 15.5 10 C 18 13 18 16 15 19 H 3 C 6 16 6 13 3.5 10 C 1 7 1 4 4 1 Z" stroke="{s}" fill="{f}" stroke-width="1"/><path d="M 5 5 H 13 M 6 8.5 H 14 M 6.5 12 H 14.5 M 6 15.5 H 13" stroke="{s}" stroke-width="1"/>"#
        ),
        "user" => format!(
            r#"<circle cx="10" cy="6" r="4.5" stroke="{s}" fill="{f}" stroke-width="1"/><path d="M 1.5 19 C 1.5 13 5 10.5 10 10.5 C 15 10.5 18.5 13 18.5 19 Z" stroke="{s}" fill="{f}" stroke-width="1"/><path d="M 6 19 V 15.5 M 14 19 V 15.5" stroke="{s}" stroke-width="1"/>"#
        ),
        "manual" => format!(
            r#"<path d="M 1 8 C 1 6 2 5 4 5 H 15 C 16.5 5 16.5 7.2 15 7.2 H 10 H 18 C 19.5 7.2 19.5 9.5 18 9.5 H 10 H 17.5 C 19 9.5 19 11.8 17.5 11.8 H 10 H 16 C 17.5 11.8 17.5 14 16 14 H 4 C 2 14 1 13 1 11 Z" stroke="{s}" fill="{f}" stroke-width="1"/>"#
        ),
        "send" => format!(
            r#"<rect x="1" y="4" width="18" height="12" stroke="{s}" fill="{s}" stroke-width="1"/><path d="M 1 4 L 10 11 L 19 4" stroke="{f}" fill="none" stroke-width="1.2"/>"#
        ),
        "receive" => format!(
            r#"<rect x="1" y="4" width="18" height="12" stroke="{s}" fill="{f}" stroke-width="1"/><path d="M 1 4 L 10 11 L 19 4" stroke="{s}" fill="none" stroke-width="1"/>"#
        ),
        "businessRule" => format!(
            r#"<rect x="1" y="3" width="18" height="14" stroke="{s}" fill="{f}" stroke-width="1"/><rect x="1" y="3" width="18" height="4" stroke="{s}" fill="{s}" stroke-width="1"/><path d="M 1 12 H 19 M 6 7 V 17" stroke="{s}" stroke-width="1"/>"#
        ),
        _ => String::new(),
    }
}

/// An eight-tooth gear outline centred on (cx, cy).
fn gear_path(cx: f64, cy: f64, r: f64) -> String {
    let teeth = 8;
    let inner = r * 0.72;
    let mut d = String::new();
    for i in 0..teeth * 4 {
        // Each tooth: two points on the outer radius, two on the inner one.
        let a = f64::from(i) * std::f64::consts::PI * 2.0 / f64::from(teeth * 4);
        let rad = if i % 4 == 1 || i % 4 == 2 { r } else { inner };
        let (sin, cos) = a.sin_cos();
        let _ = write!(
            d,
            "{} {} {} ",
            if i == 0 { "M" } else { "L" },
            num(cx + rad * cos),
            num(cy + rad * sin)
        );
    }
    d.push('Z');
    d
}

/// A gateway diamond with its marker: `exclusive` (X, when `marker`), `parallel` (+),
/// `inclusive` (O), `complex` (*), `eventBased` (pentagon in a double circle),
/// `parallelEventBased` (plus in a circle), `exclusiveEventBased` (pentagon in a circle).
pub fn gateway(w: f64, h: f64, kind: &str, marker: bool, c: &Colors) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<polygon points="{},0 {},{} {},{} 0,{}" {}/>"#,
        num(w / 2.0),
        num(w),
        num(h / 2.0),
        num(w / 2.0),
        num(h),
        num(h / 2.0),
        shape_attrs(c, 2.0)
    );
    let s = escape(&c.stroke);
    let f = escape(&c.fill);
    let inner = match kind {
        "exclusive" if marker => format!(
            r#"<path d="M 17.5 16 L 32.5 34 M 32.5 16 L 17.5 34" stroke="{s}" fill="none" stroke-width="4.5" stroke-linecap="square"/>"#
        ),
        "parallel" => format!(
            r#"<path d="M 25 13 V 37 M 13 25 H 37" stroke="{s}" fill="none" stroke-width="4.5"/>"#
        ),
        "inclusive" => format!(
            r#"<circle cx="25" cy="25" r="11" stroke="{s}" fill="none" stroke-width="2.5"/>"#
        ),
        "complex" => format!(
            r#"<path d="M 25 13 V 37 M 13 25 H 37 M 16.5 16.5 L 33.5 33.5 M 33.5 16.5 L 16.5 33.5" stroke="{s}" fill="none" stroke-width="3.5"/>"#
        ),
        "eventBased" => format!(
            r#"<circle cx="25" cy="25" r="12.5" stroke="{s}" fill="{f}" stroke-width="1"/><circle cx="25" cy="25" r="10" stroke="{s}" fill="none" stroke-width="1"/><path d="M 25 18.5 L 31.2 23 L 28.8 30.3 L 21.2 30.3 L 18.8 23 Z" stroke="{s}" fill="none" stroke-width="1.5"/>"#
        ),
        "exclusiveEventBased" => format!(
            r#"<circle cx="25" cy="25" r="12.5" stroke="{s}" fill="{f}" stroke-width="1"/><path d="M 25 18.5 L 31.2 23 L 28.8 30.3 L 21.2 30.3 L 18.8 23 Z" stroke="{s}" fill="none" stroke-width="1.5"/>"#
        ),
        "parallelEventBased" => format!(
            r#"<circle cx="25" cy="25" r="12.5" stroke="{s}" fill="{f}" stroke-width="1"/><path d="M 23 17 H 27 V 23 H 33 V 27 H 27 V 33 H 23 V 27 H 17 V 23 H 23 Z" stroke="{s}" fill="none" stroke-width="1"/>"#
        ),
        _ => String::new(),
    };
    if !inner.is_empty() {
        let sc = w.min(h) / 50.0;
        let _ = write!(
            out,
            r#"<g class="bpmn-marker" transform="translate({} {}) scale({})">{inner}</g>"#,
            num(w / 2.0 - 25.0 * sc),
            num(h / 2.0 - 25.0 * sc),
            num(sc)
        );
    }
    out
}

/// A data object (dog-eared page); `io`: `Some(true)` input arrow, `Some(false)` filled
/// output arrow.
pub fn data_object(w: f64, h: f64, collection: bool, io: Option<bool>, c: &Colors) -> String {
    let mut out = String::new();
    let ear = (w.min(h) * 0.3).min(12.0);
    let _ = write!(
        out,
        r#"<path d="M 0 0 H {} L {} {} V {} H 0 Z" {}/><path d="M {} 0 V {} H {}" class="bpmn-shape" stroke="{}" fill="none" stroke-width="1.5"/>"#,
        num(w - ear),
        num(w),
        num(ear),
        num(h),
        shape_attrs(c, 1.5),
        num(w - ear),
        num(ear),
        num(w),
        escape(&c.stroke)
    );
    let s = escape(&c.stroke);
    if let Some(input) = io {
        let fill = if input { escape(&c.fill) } else { s.clone() };
        let _ = write!(
            out,
            r#"<path class="bpmn-marker" d="M 4 7 H 10 V 3.5 L 16 9.5 L 10 15.5 V 12 H 4 Z" stroke="{s}" fill="{fill}" stroke-width="1"/>"#
        );
    }
    if collection {
        let x = w / 2.0 - 6.0;
        let y = h - 14.0;
        let _ = write!(
            out,
            r#"<path class="bpmn-marker" d="M {} {} v 10 M {} {} v 10 M {} {} v 10" stroke="{s}" stroke-width="2"/>"#,
            num(x + 1.0),
            num(y),
            num(x + 6.0),
            num(y),
            num(x + 11.0),
            num(y)
        );
    }
    out
}

/// A data store (cylinder).
pub fn data_store(w: f64, h: f64, c: &Colors) -> String {
    let ry = (h * 0.12).min(10.0);
    let s = escape(&c.stroke);
    format!(
        r#"<path d="M 0 {ry0} A {rx} {ry} 0 0 1 {w} {ry0} V {hb} A {rx} {ry} 0 0 1 0 {hb} Z" {attrs}/><path d="M 0 {ry0} A {rx} {ry} 0 0 0 {w} {ry0} M 0 {r2} A {rx} {ry} 0 0 0 {w} {r2} M 0 {r3} A {rx} {ry} 0 0 0 {w} {r3}" class="bpmn-shape" stroke="{s}" fill="none" stroke-width="1.5"/>"#,
        ry0 = num(ry),
        rx = num(w / 2.0),
        ry = num(ry),
        w = num(w),
        hb = num(h - ry),
        r2 = num(ry + 5.0),
        r3 = num(ry + 10.0),
        attrs = shape_attrs(c, 1.5),
    )
}

/// A text annotation: an open bracket on the left and the text.
pub fn text_annotation(w: f64, h: f64, text: Option<&str>, c: &Colors) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<rect x="0" y="0" width="{}" height="{}" stroke="none" fill="none"/><path d="M 10 0 H 0 V {} H 10" class="bpmn-shape" stroke="{}" fill="none" stroke-width="1.5"/>"#,
        num(w.max(0.0)),
        num(h.max(0.0)),
        num(h),
        escape(&c.stroke)
    );
    if let Some(text) = text {
        let lines = wrap(text, (w - 10.0).max(CHAR_WIDTH));
        text_lines(&mut out, &lines, 5.0, 5.0, "start", c);
    }
    out
}

/// A group: dashed rounded rectangle with its category value at the top.
pub fn group(w: f64, h: f64, label: Option<&str>, c: &Colors) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<rect x="0" y="0" width="{}" height="{}" rx="10" ry="10" class="bpmn-shape" stroke="{}" fill="none" stroke-width="1" stroke-dasharray="10 4 2 4"/>"#,
        num(w.max(0.0)),
        num(h.max(0.0)),
        escape(&c.stroke)
    );
    if let Some(label) = label {
        let lines = wrap(label, (w - 10.0).max(60.0));
        text_lines(&mut out, &lines, w / 2.0, 4.0, "middle", c);
    }
    out
}

/// A pool or lane: rectangle with a name band (left when horizontal, top otherwise).
/// A collapsed pool (no process inside) shows its name centred, without a band.
pub fn pool(
    w: f64,
    h: f64,
    name: Option<&str>,
    horizontal: bool,
    collapsed: bool,
    lane: bool,
    c: &Colors,
) -> String {
    let mut out = String::new();
    let fill = if lane {
        "none".to_owned()
    } else {
        escape(&c.fill)
    };
    let _ = write!(
        out,
        r#"<rect x="0" y="0" width="{}" height="{}" class="bpmn-shape" stroke="{}" fill="{fill}" stroke-width="{}"/>"#,
        num(w.max(0.0)),
        num(h.max(0.0)),
        escape(&c.stroke),
        if lane { "1" } else { "1.5" }
    );
    if collapsed {
        if let Some(name) = name {
            let lines = wrap(name, (w - 10.0).max(CHAR_WIDTH));
            text_centered(&mut out, &lines, w / 2.0, h / 2.0, c);
        }
        return out;
    }
    if horizontal {
        if !lane {
            let _ = write!(
                out,
                r#"<path d="M {b} 0 V {}" class="bpmn-shape" stroke="{}" stroke-width="1.5"/>"#,
                num(h),
                escape(&c.stroke),
                b = num(BAND)
            );
        }
        if let Some(name) = name {
            let lines = wrap(name, (h - 10.0).max(CHAR_WIDTH));
            // Rotated text: the band's vertical centre line becomes the text's x axis.
            let _ = write!(
                out,
                r#"<g transform="translate({} {}) rotate(-90)">"#,
                num(BAND / 2.0),
                num(h / 2.0)
            );
            text_centered(&mut out, &lines, 0.0, 0.0, c);
            out.push_str("</g>");
        }
    } else {
        if !lane {
            let _ = write!(
                out,
                r#"<path d="M 0 {b} H {}" class="bpmn-shape" stroke="{}" stroke-width="1.5"/>"#,
                num(w),
                escape(&c.stroke),
                b = num(BAND)
            );
        }
        if let Some(name) = name {
            let lines = wrap(name, (w - 10.0).max(CHAR_WIDTH));
            text_centered(&mut out, &lines, w / 2.0, BAND / 2.0, c);
        }
    }
    out
}

/// A shape Starweave does not know how to draw: a plain rectangle with its name.
pub fn unknown(w: f64, h: f64, name: Option<&str>, c: &Colors) -> String {
    let mut out = format!(
        r#"<rect x="0" y="0" width="{}" height="{}" class="bpmn-shape" stroke="{}" fill="{}" stroke-width="1" stroke-dasharray="4 2"/>"#,
        num(w.max(0.0)),
        num(h.max(0.0)),
        escape(&c.stroke),
        escape(&c.fill)
    );
    if let Some(name) = name {
        label_inside(&mut out, name, w, h, c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_on_words_and_long_words() {
        assert_eq!(wrap("Load the user", 60.0), vec!["Load the", "user"]);
        assert_eq!(wrap("abcdefghijklmnopqrstuvwxyz", 64.0).len(), 3);
        assert!(wrap("   ", 60.0).is_empty());
        assert_eq!(wrap("a\nb", 60.0), vec!["a", "b"]);
    }

    #[test]
    fn escape_covers_markup_and_control_characters() {
        assert_eq!(escape("a<b&\"c'>\u{1}"), "a&lt;b&amp;&quot;c&apos;&gt;");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(10.0), "10");
        assert_eq!(num(12.345), "12.35");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(f64::NAN), "0");
    }
}
