//! Counting the floating-point operations a forward pass asks for, for the achieved TFLOP/s in
//! `bench`: the matmul-shaped layers (linear, convolution, temporal convolution, attention)
//! add `2 · multiply-adds` of their shapes while a [`count`] is running on this thread; the
//! element-wise work (norms, activations, softmax) is not counted, as is usual for TFLOP/s.
//! Only shapes are read: counting costs no device work.

use std::cell::Cell;

thread_local! {
    static COUNTER: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Adds `n` operations to the running count of this thread, if one runs.
pub fn add(n: u64) {
    COUNTER.with(|c| {
        if let Some(total) = c.get() {
            c.set(Some(total.saturating_add(n)));
        }
    });
}

/// `2 · m · k · n`: one `[m, k] × [k, n]` product.
pub fn matmul(m: usize, k: usize, n: usize) {
    add(2 * (m as u64) * (k as u64) * (n as u64));
}

/// Runs `f` and returns what it counted (nested counts add to the outer one too).
pub fn count<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let outer = COUNTER.with(|c| c.replace(Some(0)));
    let out = f();
    let counted = COUNTER.with(|c| c.replace(outer)).unwrap_or(0);
    if outer.is_some() {
        add(counted);
    }
    (out, counted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_inside_and_nests() {
        matmul(10, 10, 10);
        let ((), outer) = count(|| {
            matmul(2, 3, 4);
            let ((), inner) = count(|| matmul(1, 1, 1));
            assert_eq!(inner, 2);
        });
        assert_eq!(outer, 48 + 2);
    }
}
