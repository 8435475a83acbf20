//! Polygons in frame pixels: a camera's region of interest.

/// Whether `p` lies inside `polygon` (even-odd rule; points on an edge may go either way).
pub fn contains(polygon: &[[f64; 2]], p: [f64; 2]) -> bool {
    let mut inside = false;
    let mut j = polygon.len().wrapping_sub(1);
    for (i, a) in polygon.iter().enumerate() {
        let b = polygon[j];
        if (a[1] > p[1]) != (b[1] > p[1])
            && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0]
        {
            inside = !inside;
        }
        j = i;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_of_interest() {
        let lower_half = [[0.0, 360.0], [1280.0, 360.0], [1280.0, 720.0], [0.0, 720.0]];
        assert!(contains(&lower_half, [640.0, 500.0]));
        assert!(!contains(&lower_half, [640.0, 200.0]));
        assert!(!contains(&lower_half, [1300.0, 500.0]));
        let triangle = [[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]];
        assert!(contains(&triangle, [20.0, 20.0]));
        assert!(!contains(&triangle, [80.0, 80.0]));
        assert!(!contains(&[], [0.0, 0.0]), "an empty polygon holds nothing");
    }
}
