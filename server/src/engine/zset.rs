//! The sorted set type: a listpack of member/score pairs kept in (score, member) order while
//! small, a dict of scores beside an order-statistic tree past the `zset-max-listpack-*`
//! thresholds (reported as Redis's "skiplist" encoding, which is what clients expect). Both
//! answer the same two primitives, a partition point and a run of elements from a rank, on which
//! every range command is built.

use super::dict::Dict;
use super::limits;
use super::listpack::Listpack;
use super::rank_tree::{before, RankTree};
use rand::Rng;
use slotcache_protocol::resp::parse::parse_i64;

#[derive(Clone)]
pub enum ZSet {
    Packed(Listpack),
    /// Boxed so the small form, by far the most common, stays small.
    Sorted(Box<Sorted>),
}

#[derive(Clone, Default)]
pub struct Sorted {
    scores: Dict<f64>,
    order: RankTree,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Packed(Listpack::new())
    }
}

/// Tag of a packed score that is stored as the raw bits of a double.
const RAW_SCORE: u8 = 0xff;

/// Packed scores are decimal text when they are small integers (one to a few bytes, as Redis's
/// listpack integers) and the tagged bits of the double otherwise. Like Redis's listpack, this
/// reads -0 back as 0.
fn encode_score(score: f64, buf: &mut [u8; 24]) -> &[u8] {
    if score.fract() == 0.0 && score.abs() < 1e15 {
        let mut formatter = itoa::Buffer::new();
        let digits = formatter.format(score as i64).as_bytes();
        buf[..digits.len()].copy_from_slice(digits);
        return &buf[..digits.len()];
    }
    buf[0] = RAW_SCORE;
    buf[1..9].copy_from_slice(&score.to_le_bytes());
    &buf[..9]
}

fn decode_score(data: &[u8]) -> f64 {
    match data {
        [RAW_SCORE, bits @ ..] if bits.len() == 8 => {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(bits);
            f64::from_le_bytes(raw)
        }
        _ => parse_i64(data).unwrap_or_default() as f64,
    }
}

fn packed_entries(lp: &Listpack) -> Vec<(&[u8], f64)> {
    let mut out = Vec::with_capacity(lp.len() / 2);
    let mut items = lp.iter();
    while let (Some(member), Some(score)) = (items.next(), items.next()) {
        out.push((member, decode_score(score)));
    }
    out
}

impl ZSet {
    pub fn len(&self) -> usize {
        match self {
            ZSet::Packed(lp) => lp.len() / 2,
            ZSet::Sorted(sorted) => sorted.scores.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Packed(_) => "listpack",
            ZSet::Sorted(_) => "skiplist",
        }
    }

    /// An empty set already in the encoding `size` members of up to `longest` bytes need, as
    /// the STORE commands create their destination.
    pub fn with_capacity(size: usize, longest: usize) -> ZSet {
        if size <= limits::zset_entries() && longest <= limits::zset_value() {
            ZSet::default()
        } else {
            ZSet::Sorted(Box::default())
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Packed(lp) => lp
                .position(member, 0, 2)
                .and_then(|i| lp.get(i + 1))
                .map(decode_score),
            ZSet::Sorted(sorted) => sorted.scores.get(member).copied(),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.score(member).is_some()
    }

    /// Sets a member's score; returns its previous score, `None` when it is new.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        self.update(member, |_| Some(score))
    }

    /// Looks a member up once and lets `decide` pick its new score from the current one (or
    /// `None` to leave it); returns the previous score.
    pub fn update(
        &mut self,
        member: &[u8],
        decide: impl FnOnce(Option<f64>) -> Option<f64>,
    ) -> Option<f64> {
        if let ZSet::Packed(lp) = self {
            let found = lp.position(member, 0, 2);
            let previous = found.and_then(|i| lp.get(i + 1)).map(decode_score);
            let score = match decide(previous) {
                Some(score) if Some(score) != previous => score,
                _ => return previous,
            };
            if let Some(i) = found {
                lp.remove_range(i, 2);
                Self::packed_insert(lp, member, score);
                return previous;
            }
            let fits =
                lp.len() / 2 < limits::zset_entries() && member.len() <= limits::zset_value();
            if fits {
                Self::packed_insert(lp, member, score);
                return None;
            }
            self.convert_to_sorted();
            let ZSet::Sorted(sorted) = self else {
                unreachable!("converted above")
            };
            sorted.scores.insert_new(member, score);
            sorted.order.insert(score, member);
            return None;
        }
        let ZSet::Sorted(sorted) = self else {
            unreachable!("packed handled above")
        };
        match sorted.scores.get_mut(member) {
            Some(current) => {
                let previous = *current;
                if let Some(score) = decide(Some(previous)).filter(|s| *s != previous) {
                    *current = score;
                    sorted.order.rescore(previous, score, member);
                }
                Some(previous)
            }
            None => {
                if let Some(score) = decide(None) {
                    sorted.scores.insert_new(member, score);
                    sorted.order.insert(score, member);
                }
                None
            }
        }
    }

    fn packed_insert(lp: &mut Listpack, member: &[u8], score: f64) {
        let at = packed_entries(lp)
            .iter()
            .take_while(|(m, s)| before(*s, m, score, member))
            .count();
        let mut buf = [0u8; 24];
        lp.insert(at * 2, member);
        lp.insert(at * 2 + 1, encode_score(score, &mut buf));
    }

    fn convert_to_sorted(&mut self) {
        if let ZSet::Packed(lp) = self {
            let mut sorted = Sorted::default();
            for (member, score) in packed_entries(lp) {
                sorted.scores.insert_new(member, score);
                sorted.order.insert(score, member);
            }
            *self = ZSet::Sorted(Box::new(sorted));
        }
    }

    /// Removes a member; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            ZSet::Packed(lp) => match lp.position(member, 0, 2) {
                Some(i) => {
                    lp.remove_range(i, 2);
                    true
                }
                None => false,
            },
            ZSet::Sorted(sorted) => match sorted.scores.remove(member) {
                Some(score) => sorted.order.remove(score, member),
                None => false,
            },
        }
    }

    /// How many leading elements (in ascending order) satisfy `pred`, which must hold for a
    /// prefix of the order and fail for the rest.
    pub fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Packed(lp) => packed_entries(lp)
                .iter()
                .take_while(|(m, s)| pred(*s, m))
                .count(),
            ZSet::Sorted(sorted) => sorted.order.count_while(pred),
        }
    }

    /// A member's 0-based rank in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.count_while(|s, m| before(s, m, score, member)))
    }

    /// Up to `count` elements from 0-based rank `from`, counted from the highest when `rev`.
    pub fn range(&self, from: usize, count: usize, rev: bool) -> Vec<(&[u8], f64)> {
        match self {
            ZSet::Packed(lp) => {
                let mut all = packed_entries(lp);
                if rev {
                    all.reverse();
                }
                all.into_iter().skip(from).take(count).collect()
            }
            ZSet::Sorted(sorted) => sorted.order.range(from, count, rev),
        }
    }

    /// Every element in ascending order.
    pub fn entries(&self) -> Vec<(&[u8], f64)> {
        self.range(0, usize::MAX, false)
    }

    pub fn random_entry<R: Rng>(&self, rng: &mut R) -> Option<(&[u8], f64)> {
        match self {
            ZSet::Packed(lp) if lp.is_empty() => None,
            ZSet::Packed(_) => self.range(rng.random_range(0..self.len()), 1, false).pop(),
            ZSet::Sorted(sorted) => sorted.scores.random_entry(rng).map(|(m, s)| (m, *s)),
        }
    }

    /// One ZSCAN step; a packed set is returned whole with cursor 0, as Redis does.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], f64)) -> u64 {
        match self {
            ZSet::Packed(lp) => {
                for (member, score) in packed_entries(lp) {
                    visit(member, score);
                }
                0
            }
            ZSet::Sorted(sorted) => sorted.scores.scan(cursor, |m, s| visit(m, *s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_pack_compactly_and_exactly() {
        for score in [0.0, 1.0, -7.0, 1.5, 1e300, f64::INFINITY, 0.1, 123456789.0] {
            let mut buf = [0u8; 24];
            let encoded = encode_score(score, &mut buf).to_vec();
            let back = decode_score(&encoded);
            assert_eq!(back.to_bits(), score.to_bits(), "{score}");
        }
        let mut buf = [0u8; 24];
        assert_eq!(encode_score(42.0, &mut buf), b"42");
        assert_eq!(decode_score(encode_score(-0.0, &mut buf)).to_bits(), 0);
    }

    #[test]
    fn packed_and_sorted_agree() {
        let mut packed = ZSet::default();
        let mut sorted = ZSet::Sorted(Box::default());
        let mut rng = rand::rng();
        for _ in 0..500 {
            let member = format!("m{}", rng.random_range(0..60)).into_bytes();
            let score = rng.random_range(-5..5) as f64 / 2.0;
            if rng.random_range(0..4) == 0 {
                assert_eq!(packed.remove(&member), sorted.remove(&member));
            } else {
                assert_eq!(packed.insert(&member, score), sorted.insert(&member, score));
            }
            assert_eq!(packed.entries(), sorted.entries());
            assert_eq!(packed.rank(&member), sorted.rank(&member));
        }
        assert_eq!(packed.range(3, 5, true), sorted.range(3, 5, true));
    }
}
