//! Weighted choice: one pick, or an order drawn by weight (a weighted shuffle). Weight 0 never
//! wins a pick, and comes last in an order.

use rand::seq::IndexedRandom;

/// One item, drawn in proportion to its weight; `None` when every weight is 0.
pub fn pick<T>(items: &[T], weight: impl Fn(&T) -> u32) -> Option<&T> {
    items.choose_weighted(&mut rand::rng(), |t| weight(t)).ok()
}

/// Every item, drawn one at a time in proportion to weight (items of weight 0 count as 1, so
/// each is still tried).
pub fn order<T>(mut items: Vec<T>, weight: impl Fn(&T) -> u32) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len());
    while !items.is_empty() {
        let indices: Vec<usize> = (0..items.len()).collect();
        let i = indices.choose_weighted(&mut rand::rng(), |&i| weight(&items[i]).max(1)).map_or(0, |&i| i);
        out.push(items.swap_remove(i));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_weights_never_win_and_weights_shape_the_draw() {
        let items = [("a", 0), ("b", 3), ("c", 1)];
        let mut b = 0;
        for _ in 0..4000 {
            let (name, _) = pick(&items, |i| i.1).expect("some weight");
            assert_ne!(*name, "a");
            b += usize::from(*name == "b");
        }
        // 3:1 by weight: b wins about 3000 of 4000 (the bound is loose: ±10 standard deviations).
        assert!((2700..3300).contains(&b), "b won {b} of 4000");
        assert!(pick(&[("x", 0)], |i| i.1).is_none());
        let mut ordered = order(vec![1, 2, 3, 4], |_| 1);
        ordered.sort_unstable();
        assert_eq!(ordered, vec![1, 2, 3, 4]);
    }
}
