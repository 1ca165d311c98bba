//! Plane geometry of the canvas: points, rectangles, grid snapping, alignment guides,
//! edge routing and hit testing. Pure: no Leptos, no DOM, so all of it is tested natively.

use serde::{Deserialize, Serialize};

/// A point in diagram (or screen) coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    pub const fn new(x: f64, y: f64) -> Self {
        Self { x, y }
    }

    pub fn translate(self, dx: f64, dy: f64) -> Self {
        Self::new(self.x + dx, self.y + dy)
    }

    pub fn distance(self, other: Point) -> f64 {
        (self.x - other.x).hypot(self.y - other.y)
    }
}

/// An axis-aligned rectangle: top-left corner, width and height.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub const fn new(x: f64, y: f64, w: f64, h: f64) -> Self {
        Self { x, y, w, h }
    }

    /// The smallest rectangle holding both points, whatever their order.
    pub fn from_points(a: Point, b: Point) -> Self {
        Self::new(
            a.x.min(b.x),
            a.y.min(b.y),
            (a.x - b.x).abs(),
            (a.y - b.y).abs(),
        )
    }

    pub fn right(&self) -> f64 {
        self.x + self.w
    }

    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }

    pub fn center(&self) -> Point {
        Point::new(self.x + self.w / 2.0, self.y + self.h / 2.0)
    }

    /// Whether `p` lies inside or on the border.
    pub fn contains(&self, p: Point) -> bool {
        p.x >= self.x && p.x <= self.right() && p.y >= self.y && p.y <= self.bottom()
    }

    /// Whether `other` lies entirely inside this rectangle.
    pub fn contains_rect(&self, other: &Rect) -> bool {
        other.x >= self.x
            && other.y >= self.y
            && other.right() <= self.right()
            && other.bottom() <= self.bottom()
    }

    /// Whether the two rectangles share interior area or touch.
    pub fn intersects(&self, other: &Rect) -> bool {
        self.x <= other.right()
            && other.x <= self.right()
            && self.y <= other.bottom()
            && other.y <= self.bottom()
    }

    pub fn union(&self, other: &Rect) -> Rect {
        let x = self.x.min(other.x);
        let y = self.y.min(other.y);
        Rect::new(
            x,
            y,
            self.right().max(other.right()) - x,
            self.bottom().max(other.bottom()) - y,
        )
    }

    pub fn translate(&self, dx: f64, dy: f64) -> Rect {
        Rect::new(self.x + dx, self.y + dy, self.w, self.h)
    }

    /// Grows the rectangle by `d` on every side (shrinks for negative `d`).
    pub fn inflate(&self, d: f64) -> Rect {
        Rect::new(self.x - d, self.y - d, self.w + 2.0 * d, self.h + 2.0 * d)
    }

    /// The middle of one side.
    pub fn side_point(&self, side: Side) -> Point {
        let c = self.center();
        match side {
            Side::N => Point::new(c.x, self.y),
            Side::E => Point::new(self.right(), c.y),
            Side::S => Point::new(c.x, self.bottom()),
            Side::W => Point::new(self.x, c.y),
        }
    }

    /// Where the ray from the centre towards `toward` leaves the rectangle. Returns the
    /// centre itself when `toward` is the centre.
    pub fn clip_from_center(&self, toward: Point) -> Point {
        let c = self.center();
        let (dx, dy) = (toward.x - c.x, toward.y - c.y);
        if dx == 0.0 && dy == 0.0 {
            return c;
        }
        let tx = if dx == 0.0 {
            f64::INFINITY
        } else {
            (self.w / 2.0) / dx.abs()
        };
        let ty = if dy == 0.0 {
            f64::INFINITY
        } else {
            (self.h / 2.0) / dy.abs()
        };
        let t = tx.min(ty);
        Point::new(c.x + dx * t, c.y + dy * t)
    }
}

/// Union of all rectangles, `None` when there are none.
pub fn bounds_of(rects: impl IntoIterator<Item = Rect>) -> Option<Rect> {
    rects.into_iter().reduce(|a, b| a.union(&b))
}

/// One side of a rectangle; also the four connection ports of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    N,
    E,
    S,
    W,
}

impl Side {
    pub const ALL: [Side; 4] = [Side::N, Side::E, Side::S, Side::W];

    /// The value of the `data-port` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::N => "n",
            Side::E => "e",
            Side::S => "s",
            Side::W => "w",
        }
    }
}

/// Rounds `v` to the nearest multiple of `grid`; a grid of 0 (or less) leaves it alone.
pub fn snap(v: f64, grid: f64) -> f64 {
    if grid > 0.0 {
        (v / grid).round() * grid
    } else {
        v
    }
}

/// A guide line drawn while dragging: from `from` to `to` in diagram coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct GuideLine {
    pub from: Point,
    pub to: Point,
}

/// The outcome of [`align`]: a correction to add to the moving rectangle's position and the
/// guide lines to show.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Alignment {
    pub dx: f64,
    pub dy: f64,
    pub guides: Vec<GuideLine>,
}

/// Aligns a moving rectangle with others: on each axis, the moving rectangle's left/centre/right
/// (top/middle/bottom) lines snap to the nearest such line of another rectangle when it is within
/// `tolerance`. Returns the correction and one guide line per alignment, spanning the moving
/// rectangle and every rectangle it aligns with.
pub fn align(moving: Rect, others: &[Rect], tolerance: f64) -> Alignment {
    let xs = |r: &Rect| [r.x, r.x + r.w / 2.0, r.right()];
    let ys = |r: &Rect| [r.y, r.y + r.h / 2.0, r.bottom()];
    let best = |mine: [f64; 3], theirs: &dyn Fn(&Rect) -> [f64; 3]| -> Option<f64> {
        let mut best: Option<f64> = None;
        for other in others {
            for m in mine {
                for t in theirs(other) {
                    let d = t - m;
                    if d.abs() <= tolerance && best.is_none_or(|b| d.abs() < b.abs()) {
                        best = Some(d);
                    }
                }
            }
        }
        best
    };
    let dx = best(xs(&moving), &xs);
    let dy = best(ys(&moving), &ys);
    let snapped = moving.translate(dx.unwrap_or(0.0), dy.unwrap_or(0.0));
    let mut guides = Vec::new();
    const EPS: f64 = 1e-6;
    if dx.is_some() {
        for line in xs(&snapped) {
            let hits: Vec<&Rect> = others
                .iter()
                .filter(|o| xs(o).iter().any(|v| (v - line).abs() < EPS))
                .collect();
            if hits.is_empty() {
                continue;
            }
            let top = hits.iter().map(|r| r.y).fold(snapped.y, f64::min);
            let bottom = hits
                .iter()
                .map(|r| r.bottom())
                .fold(snapped.bottom(), f64::max);
            guides.push(GuideLine {
                from: Point::new(line, top),
                to: Point::new(line, bottom),
            });
        }
    }
    if dy.is_some() {
        for line in ys(&snapped) {
            let hits: Vec<&Rect> = others
                .iter()
                .filter(|o| ys(o).iter().any(|v| (v - line).abs() < EPS))
                .collect();
            if hits.is_empty() {
                continue;
            }
            let left = hits.iter().map(|r| r.x).fold(snapped.x, f64::min);
            let right = hits
                .iter()
                .map(|r| r.right())
                .fold(snapped.right(), f64::max);
            guides.push(GuideLine {
                from: Point::new(left, line),
                to: Point::new(right, line),
            });
        }
    }
    Alignment {
        dx: dx.unwrap_or(0.0),
        dy: dy.unwrap_or(0.0),
        guides,
    }
}

/// A Manhattan path from `a` to `b` with at most two bends, leaving and entering at the sides
/// that face each other:
/// - side by side (a horizontal gap, no vertical one): east/west sides, straight when the
///   centres share a row, else a Z with the vertical leg halfway across the gap;
/// - stacked (a vertical gap, no horizontal one): the same turned by a quarter;
/// - diagonal (gaps on both axes): an L leaving horizontally and entering vertically;
/// - overlapping: a straight line between the centres, clipped at the borders.
pub fn route_orthogonal(a: Rect, b: Rect) -> Vec<Point> {
    let (ca, cb) = (a.center(), b.center());
    let h_gap = b.x - a.right() > 0.0 || a.x - b.right() > 0.0;
    let v_gap = b.y - a.bottom() > 0.0 || a.y - b.bottom() > 0.0;
    match (h_gap, v_gap) {
        (true, false) => {
            let (from, to) = if cb.x > ca.x {
                (a.side_point(Side::E), b.side_point(Side::W))
            } else {
                (a.side_point(Side::W), b.side_point(Side::E))
            };
            if from.y == to.y {
                vec![from, to]
            } else {
                let mx = (from.x + to.x) / 2.0;
                vec![from, Point::new(mx, from.y), Point::new(mx, to.y), to]
            }
        }
        (false, true) => {
            let (from, to) = if cb.y > ca.y {
                (a.side_point(Side::S), b.side_point(Side::N))
            } else {
                (a.side_point(Side::N), b.side_point(Side::S))
            };
            if from.x == to.x {
                vec![from, to]
            } else {
                let my = (from.y + to.y) / 2.0;
                vec![from, Point::new(from.x, my), Point::new(to.x, my), to]
            }
        }
        (true, true) => {
            let from = if cb.x > ca.x {
                a.side_point(Side::E)
            } else {
                a.side_point(Side::W)
            };
            let to = if cb.y > ca.y {
                b.side_point(Side::N)
            } else {
                b.side_point(Side::S)
            };
            vec![from, Point::new(to.x, from.y), to]
        }
        (false, false) => route_straight(a, b),
    }
}

/// A straight line between the centres, clipped at both borders.
pub fn route_straight(a: Rect, b: Rect) -> Vec<Point> {
    let (ca, cb) = (a.center(), b.center());
    vec![a.clip_from_center(cb), b.clip_from_center(ca)]
}

/// Distance from `p` to the segment `a`–`b`.
pub fn distance_to_segment(p: Point, a: Point, b: Point) -> f64 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len2 = dx * dx + dy * dy;
    if len2 == 0.0 {
        return p.distance(a);
    }
    let t = (((p.x - a.x) * dx + (p.y - a.y) * dy) / len2).clamp(0.0, 1.0);
    p.distance(Point::new(a.x + t * dx, a.y + t * dy))
}

/// Distance from `p` to the polyline through `pts` (infinite for an empty one).
pub fn distance_to_polyline(p: Point, pts: &[Point]) -> f64 {
    match pts {
        [] => f64::INFINITY,
        [only] => p.distance(*only),
        _ => pts
            .windows(2)
            .map(|w| distance_to_segment(p, w[0], w[1]))
            .fold(f64::INFINITY, f64::min),
    }
}

/// SVG path data (`M x y L x y ...`) for a polyline.
pub fn path_data(pts: &[Point]) -> String {
    let mut d = String::with_capacity(pts.len() * 16);
    for (i, p) in pts.iter().enumerate() {
        if i > 0 {
            d.push(' ');
        }
        d.push(if i == 0 { 'M' } else { 'L' });
        d.push_str(&format!("{} {}", p.x, p.y));
    }
    d
}

/// The `data-waypoints` attribute: `x1,y1 x2,y2 ...`.
pub fn waypoints_attr(pts: &[Point]) -> String {
    pts.iter()
        .map(|p| format!("{},{}", p.x, p.y))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: f64, y: f64) -> Point {
        Point::new(x, y)
    }

    fn r(x: f64, y: f64, w: f64, h: f64) -> Rect {
        Rect::new(x, y, w, h)
    }

    /// Every segment is horizontal or vertical.
    fn is_orthogonal(pts: &[Point]) -> bool {
        pts.windows(2).all(|w| w[0].x == w[1].x || w[0].y == w[1].y)
    }

    fn on_border(rect: Rect, q: Point) -> bool {
        let eps = 1e-9;
        rect.inflate(eps).contains(q)
            && ((q.x - rect.x).abs() < eps
                || (q.x - rect.right()).abs() < eps
                || (q.y - rect.y).abs() < eps
                || (q.y - rect.bottom()).abs() < eps)
    }

    #[test]
    fn rect_basics() {
        let a = r(10.0, 20.0, 100.0, 80.0);
        assert_eq!(a.center(), p(60.0, 60.0));
        assert_eq!(a.right(), 110.0);
        assert_eq!(a.bottom(), 100.0);
        assert!(a.contains(p(10.0, 20.0)));
        assert!(a.contains(p(110.0, 100.0)));
        assert!(!a.contains(p(110.1, 50.0)));
        assert!(!a.contains(p(50.0, 19.9)));
        let b = r(100.0, 90.0, 50.0, 50.0);
        assert!(a.intersects(&b) && b.intersects(&a));
        assert!(!a.intersects(&r(111.0, 20.0, 5.0, 5.0)));
        assert_eq!(a.union(&b), r(10.0, 20.0, 140.0, 120.0));
        assert!(a.contains_rect(&r(20.0, 30.0, 10.0, 10.0)));
        assert!(!a.contains_rect(&b));
        assert_eq!(
            Rect::from_points(p(5.0, 9.0), p(1.0, 2.0)),
            r(1.0, 2.0, 4.0, 7.0)
        );
        assert_eq!(a.inflate(5.0), r(5.0, 15.0, 110.0, 90.0));
        assert_eq!(bounds_of([a, b]), Some(a.union(&b)));
        assert_eq!(bounds_of(Vec::<Rect>::new()), None);
    }

    #[test]
    fn side_points_and_clipping() {
        let a = r(0.0, 0.0, 100.0, 80.0);
        assert_eq!(a.side_point(Side::N), p(50.0, 0.0));
        assert_eq!(a.side_point(Side::E), p(100.0, 40.0));
        assert_eq!(a.side_point(Side::S), p(50.0, 80.0));
        assert_eq!(a.side_point(Side::W), p(0.0, 40.0));
        assert_eq!(a.clip_from_center(p(500.0, 40.0)), p(100.0, 40.0));
        assert_eq!(a.clip_from_center(p(50.0, -300.0)), p(50.0, 0.0));
        // Towards the corner direction (1,1) from (50,40): hits the bottom (t = 40) first.
        assert_eq!(a.clip_from_center(p(150.0, 140.0)), p(90.0, 80.0));
        assert_eq!(a.clip_from_center(a.center()), a.center());
    }

    #[test]
    fn snapping() {
        assert_eq!(snap(14.0, 10.0), 10.0);
        assert_eq!(snap(15.0, 10.0), 20.0);
        assert_eq!(snap(-14.0, 10.0), -10.0);
        assert_eq!(snap(-16.0, 10.0), -20.0);
        assert_eq!(snap(12.34, 0.0), 12.34);
        assert_eq!(snap(37.0, 25.0), 25.0);
        assert_eq!(snap(38.0, 25.0), 50.0);
    }

    #[test]
    fn alignment_snaps_centres_and_edges_within_tolerance() {
        let others = [r(0.0, 0.0, 100.0, 80.0), r(300.0, 200.0, 36.0, 36.0)];
        // Moving box 3 px right of alignment with the first one's left edge, far in y.
        let a = align(r(3.0, 400.0, 100.0, 80.0), &others, 5.0);
        assert_eq!(a.dx, -3.0);
        assert_eq!(a.dy, 0.0);
        // Left, centre and right lines all coincide with the first rect's.
        assert_eq!(a.guides.len(), 3);
        assert!(a.guides.iter().all(|g| g.from.x == g.to.x));
        assert_eq!(a.guides[0].from, p(0.0, 0.0));
        assert_eq!(a.guides[0].to, p(0.0, 480.0));

        // Centre of a 50x50 box near the centre row of the 36x36 event (y centre 218).
        let b = align(r(500.0, 195.0, 50.0, 50.0), &others, 5.0);
        assert_eq!(b.dx, 0.0);
        assert_eq!(b.dy, -2.0);
        assert_eq!(b.guides.len(), 1);
        assert_eq!(b.guides[0].from, p(300.0, 218.0));
        assert_eq!(b.guides[0].to, p(550.0, 218.0));

        // Out of tolerance: nothing.
        let c = align(r(500.0, 500.0, 10.0, 10.0), &others, 5.0);
        assert_eq!(c, Alignment::default());
    }

    #[test]
    fn alignment_prefers_the_nearest_line() {
        let others = [r(0.0, 0.0, 10.0, 10.0), r(0.0, 100.0, 14.0, 10.0)];
        // Moving left edge at 13: the first's right edge at 10 is 3 away, the second's at 14
        // only 1 away, so the nearer one wins.
        let a = align(r(13.0, 300.0, 10.0, 10.0), &others, 5.0);
        assert_eq!(a.dx, 1.0);
    }

    #[test]
    fn orthogonal_side_by_side() {
        let a = r(0.0, 0.0, 100.0, 80.0);
        let same_row = r(200.0, 0.0, 100.0, 80.0);
        assert_eq!(
            route_orthogonal(a, same_row),
            vec![p(100.0, 40.0), p(200.0, 40.0)]
        );
        let lower = r(200.0, 30.0, 100.0, 80.0);
        let z = route_orthogonal(a, lower);
        assert_eq!(
            z,
            vec![
                p(100.0, 40.0),
                p(150.0, 40.0),
                p(150.0, 70.0),
                p(200.0, 70.0)
            ]
        );
        // Backwards: leaves west, enters east.
        let back = route_orthogonal(lower, a);
        assert_eq!(back.first(), Some(&p(200.0, 70.0)));
        assert_eq!(back.last(), Some(&p(100.0, 40.0)));
        assert!(is_orthogonal(&z) && is_orthogonal(&back));
    }

    #[test]
    fn orthogonal_stacked_and_diagonal() {
        let a = r(0.0, 0.0, 100.0, 80.0);
        let below = r(20.0, 200.0, 36.0, 36.0);
        let s = route_orthogonal(a, below);
        assert_eq!(
            s,
            vec![
                p(50.0, 80.0),
                p(50.0, 140.0),
                p(38.0, 140.0),
                p(38.0, 200.0)
            ]
        );
        let above = route_orthogonal(below, a);
        assert_eq!(above.first(), Some(&p(38.0, 200.0)));
        assert_eq!(above.last(), Some(&p(50.0, 80.0)));

        let diag = r(300.0, 300.0, 50.0, 50.0);
        let l = route_orthogonal(a, diag);
        assert_eq!(l, vec![p(100.0, 40.0), p(325.0, 40.0), p(325.0, 300.0)]);
        let l_back = route_orthogonal(diag, a);
        assert_eq!(l_back, vec![p(300.0, 325.0), p(50.0, 325.0), p(50.0, 80.0)]);
        for pts in [&s, &above, &l, &l_back] {
            assert!(is_orthogonal(pts));
            assert!(pts.len() >= 2 && pts.len() <= 4, "at most two bends");
        }
    }

    #[test]
    fn routes_start_and_end_on_the_borders() {
        let rects = [
            r(0.0, 0.0, 100.0, 80.0),
            r(250.0, 10.0, 36.0, 36.0),
            r(-300.0, 400.0, 50.0, 50.0),
            r(40.0, 300.0, 100.0, 80.0),
            r(60.0, 50.0, 100.0, 80.0),
        ];
        for a in rects {
            for b in rects {
                if a == b {
                    continue;
                }
                for pts in [route_orthogonal(a, b), route_straight(a, b)] {
                    assert!(on_border(a, pts[0]), "{a:?} -> {b:?}: {pts:?}");
                    assert!(
                        on_border(b, *pts.last().unwrap()),
                        "{a:?} -> {b:?}: {pts:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn straight_route_is_clipped_centre_line() {
        let a = r(0.0, 0.0, 100.0, 100.0);
        let b = r(300.0, 0.0, 100.0, 100.0);
        assert_eq!(route_straight(a, b), vec![p(100.0, 50.0), p(300.0, 50.0)]);
        let c = r(200.0, 200.0, 100.0, 100.0);
        assert_eq!(route_straight(a, c), vec![p(100.0, 100.0), p(200.0, 200.0)]);
    }

    #[test]
    fn hit_testing_distances() {
        let pts = [p(0.0, 0.0), p(100.0, 0.0), p(100.0, 100.0)];
        assert_eq!(distance_to_polyline(p(50.0, 5.0), &pts), 5.0);
        assert_eq!(distance_to_polyline(p(104.0, 50.0), &pts), 4.0);
        assert_eq!(distance_to_polyline(p(-3.0, -4.0), &pts), 5.0);
        assert_eq!(distance_to_polyline(p(100.0, 103.0), &pts), 3.0);
        assert_eq!(distance_to_polyline(p(1.0, 1.0), &[p(1.0, 4.0)]), 3.0);
        assert_eq!(distance_to_polyline(p(1.0, 1.0), &[]), f64::INFINITY);
        assert_eq!(
            distance_to_segment(p(5.0, 5.0), p(0.0, 0.0), p(0.0, 0.0)),
            50f64.sqrt()
        );
    }

    #[test]
    fn svg_attributes_use_plain_float_formatting() {
        let pts = [p(100.0, 12.5), p(-3.0, 0.25)];
        assert_eq!(path_data(&pts), "M100 12.5 L-3 0.25");
        assert_eq!(waypoints_attr(&pts), "100,12.5 -3,0.25");
        assert_eq!(path_data(&[]), "");
    }
}
