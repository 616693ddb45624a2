//! A tiny seeded PRNG (SplitMix64), so a case is reproduced from `(seed, index)` alone on any
//! machine and build, without a dependency whose stream could change between versions.

/// SplitMix64: fast, statistically fine for test generation, and trivially portable.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for case `index` of run `seed`: every case has its own stream, so a case
    /// can be regenerated without generating the ones before it.
    pub fn for_case(seed: u64, index: u64) -> Rng {
        let mut r = Rng(seed ^ 0x9E37_79B9_7F4A_7C15);
        let base = r.next_u64();
        Rng(base ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `true` with probability `percent`/100.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent as usize
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An index chosen by weight (weights must not all be zero).
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut x = self.below(total as usize) as u32;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn same_seed_and_index_give_the_same_stream() {
        let a: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::for_case(7, 3);
                move |_| r.next_u64()
            })
            .collect();
        let mut r = Rng::for_case(7, 3);
        assert_eq!(a, (0..5).map(|_| r.next_u64()).collect::<Vec<_>>());
        assert_ne!(Rng::for_case(7, 3).next_u64(), Rng::for_case(7, 4).next_u64());
        assert_ne!(Rng::for_case(7, 3).next_u64(), Rng::for_case(8, 3).next_u64());
    }

    #[test]
    fn weighted_never_picks_a_zero_weight() {
        let mut r = Rng::for_case(1, 1);
        for _ in 0..1000 {
            assert_ne!(r.weighted(&[3, 0, 5]), 1);
        }
    }
}
