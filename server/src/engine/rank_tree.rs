//! The order of a large sorted set: a B+tree keyed by (score, member) whose inner nodes count
//! the elements under each child, so ranks and lookups by rank take O(log n) and a range is
//! found in O(log n) then read leaf by leaf.
//!
//! Redis keeps this order in a skiplist, where a search chases one pointer per hop, a cache
//! miss each on a large set. A tree of wide nodes reaches any element through a handful of
//! nodes whose upper levels stay cached, which is most of what a ZADD on a large set costs.

/// Most elements a leaf holds, and most children an inner node has.
const CAP: usize = 32;
/// Below this many entries a node is merged with a sibling or refilled from it.
const MIN: usize = CAP / 4;

/// An element, or a separator between two nodes.
type Key = (f64, Box<[u8]>);
/// A node split off to the right of another, with the key that separates them.
type Split = (Key, Node);

/// Whether (score, member) sorts before (other_score, other_member).
pub fn before(score: f64, member: &[u8], other_score: f64, other_member: &[u8]) -> bool {
    score < other_score || (score == other_score && member < other_member)
}

/// How many leading indexes of `0..len` satisfy `pred`, which holds for a prefix.
fn partition(len: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut low, mut high) = (0, len);
    while low < high {
        let mid = (low + high) / 2;
        if pred(mid) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    low
}

/// Elements in order, scores apart from members so a search reads few cache lines.
#[derive(Clone)]
struct Leaf {
    scores: Vec<f64>,
    members: Vec<Box<[u8]>>,
}

impl Leaf {
    fn new() -> Leaf {
        Leaf {
            scores: Vec::with_capacity(CAP + 1),
            members: Vec::with_capacity(CAP + 1),
        }
    }

    /// Where (score, member) is or would go.
    fn position(&self, score: f64, member: &[u8]) -> usize {
        partition(self.scores.len(), |i| {
            before(self.scores[i], &self.members[i], score, member)
        })
    }

    /// A copy of the first element, to separate this leaf from its left sibling.
    fn first(&self) -> Key {
        (self.scores[0], self.members[0].clone())
    }

    fn split(&mut self) -> Leaf {
        let at = self.scores.len() / 2;
        let mut right = Leaf::new();
        right.scores.extend(self.scores.drain(at..));
        right.members.extend(self.members.drain(at..));
        right
    }
}

#[derive(Clone)]
struct Inner {
    /// `keys[i]` separates child i (all below it) from child i + 1 (none below it).
    key_scores: Vec<f64>,
    key_members: Vec<Box<[u8]>>,
    /// Elements under each child.
    sizes: Vec<usize>,
    children: Vec<Node>,
}

impl Inner {
    /// The child where (score, member) is or would go.
    fn child_for(&self, score: f64, member: &[u8]) -> usize {
        partition(self.key_scores.len(), |i| {
            !before(score, member, self.key_scores[i], &self.key_members[i])
        })
    }

    /// Moves the upper half of the children to a new node; returns its separating key too.
    fn split(&mut self) -> (Key, Inner) {
        let at = self.children.len() / 2;
        let right = Inner {
            key_scores: self.key_scores.split_off(at),
            key_members: self.key_members.split_off(at),
            sizes: self.sizes.split_off(at),
            children: self.children.split_off(at),
        };
        let key = (
            self.key_scores.pop().unwrap_or_default(),
            self.key_members.pop().unwrap_or_default(),
        );
        (key, right)
    }

    /// Puts a node split off child `at` beside it.
    fn adopt(&mut self, at: usize, (key, right): Split) {
        let moved = right.size();
        self.sizes[at] -= moved;
        self.sizes.insert(at + 1, moved);
        self.children.insert(at + 1, right);
        self.key_scores.insert(at, key.0);
        self.key_members.insert(at, key.1);
    }

    /// Merges child `at` with a sibling when it has fallen below `MIN` entries, or evens the
    /// two out when together they would not fit one node.
    fn rebalance(&mut self, at: usize) {
        if self.children[at].width() >= MIN || self.children.len() < 2 {
            return;
        }
        let left = if at > 0 { at - 1 } else { at };
        let (head, tail) = self.children.split_at_mut(left + 1);
        let key = (
            self.key_scores[left],
            std::mem::take(&mut self.key_members[left]),
        );
        let separator = head[left].absorb(key, tail[0].take_all());
        match separator {
            None => {
                self.children.remove(left + 1);
                self.key_scores.remove(left);
                self.key_members.remove(left);
                let absorbed = self.sizes.remove(left + 1);
                self.sizes[left] += absorbed;
            }
            Some(((score, member), right)) => {
                let total = self.sizes[left] + self.sizes[left + 1];
                self.sizes[left + 1] = right.size();
                self.sizes[left] = total - self.sizes[left + 1];
                self.children[left + 1] = right;
                self.key_scores[left] = score;
                self.key_members[left] = member;
            }
        }
    }
}

#[derive(Clone)]
enum Node {
    Leaf(Leaf),
    Inner(Inner),
}

impl Node {
    /// Entries in this node itself: elements of a leaf, children of an inner node.
    fn width(&self) -> usize {
        match self {
            Node::Leaf(leaf) => leaf.scores.len(),
            Node::Inner(inner) => inner.children.len(),
        }
    }

    /// Elements under this node.
    fn size(&self) -> usize {
        match self {
            Node::Leaf(leaf) => leaf.scores.len(),
            Node::Inner(inner) => inner.sizes.iter().sum(),
        }
    }

    fn take_all(&mut self) -> Node {
        std::mem::replace(self, Node::Leaf(Leaf::new()))
    }

    /// Appends `right` (the next sibling, `key` between them) to this node. When the two do not
    /// fit one node the entries are split evenly again instead, and the new right node comes
    /// back with the key that now separates them.
    fn absorb(&mut self, key: Key, right: Node) -> Option<Split> {
        match (self, right) {
            (Node::Leaf(left), Node::Leaf(mut right)) => {
                left.scores.append(&mut right.scores);
                left.members.append(&mut right.members);
                if left.scores.len() <= CAP {
                    return None;
                }
                let right = left.split();
                Some((right.first(), Node::Leaf(right)))
            }
            (Node::Inner(left), Node::Inner(mut right)) => {
                left.key_scores.push(key.0);
                left.key_members.push(key.1);
                left.key_scores.append(&mut right.key_scores);
                left.key_members.append(&mut right.key_members);
                left.sizes.append(&mut right.sizes);
                left.children.append(&mut right.children);
                if left.children.len() <= CAP {
                    return None;
                }
                let (key, right) = left.split();
                Some((key, Node::Inner(right)))
            }
            _ => unreachable!("siblings sit at the same depth"),
        }
    }

    /// Inserts an element not present yet; a node that overflowed splits and hands back its
    /// upper half with the key separating it.
    fn insert(&mut self, score: f64, member: Box<[u8]>) -> Option<Split> {
        match self {
            Node::Leaf(leaf) => {
                let at = leaf.position(score, &member);
                leaf.scores.insert(at, score);
                leaf.members.insert(at, member);
                if leaf.scores.len() <= CAP {
                    return None;
                }
                let right = leaf.split();
                Some((right.first(), Node::Leaf(right)))
            }
            Node::Inner(inner) => {
                let at = inner.child_for(score, &member);
                inner.sizes[at] += 1;
                let split = inner.children[at].insert(score, member)?;
                inner.adopt(at, split);
                if inner.children.len() <= CAP {
                    return None;
                }
                let (key, right) = inner.split();
                Some((key, Node::Inner(right)))
            }
        }
    }

    /// Removes an element and hands back its bytes.
    fn take(&mut self, score: f64, member: &[u8]) -> Option<Box<[u8]>> {
        match self {
            Node::Leaf(leaf) => {
                let at = leaf.position(score, member);
                let found = at < leaf.scores.len()
                    && leaf.scores[at] == score
                    && *leaf.members[at] == *member;
                if !found {
                    return None;
                }
                leaf.scores.remove(at);
                Some(leaf.members.remove(at))
            }
            Node::Inner(inner) => {
                let at = inner.child_for(score, member);
                let taken = inner.children[at].take(score, member)?;
                inner.sizes[at] -= 1;
                inner.rebalance(at);
                Some(taken)
            }
        }
    }

    /// Pushes up to `want` elements onto `out`, skipping the first `skip` (in descending
    /// order when `rev`).
    fn collect<'a>(&'a self, skip: usize, want: usize, rev: bool, out: &mut Vec<(&'a [u8], f64)>) {
        match self {
            Node::Leaf(leaf) => {
                let len = leaf.scores.len();
                let count = want.saturating_sub(out.len()).min(len.saturating_sub(skip));
                let indexes = skip..skip + count;
                let element = |i: usize| (&*leaf.members[i], leaf.scores[i]);
                if rev {
                    out.extend(indexes.map(|i| element(len - 1 - i)));
                } else {
                    out.extend(indexes.map(element));
                }
            }
            Node::Inner(inner) => {
                let mut skip = skip;
                let last = inner.children.len() - 1;
                for k in 0..=last {
                    let i = if rev { last - k } else { k };
                    if out.len() >= want {
                        return;
                    }
                    if skip >= inner.sizes[i] {
                        skip -= inner.sizes[i];
                        continue;
                    }
                    inner.children[i].collect(skip, want, rev, out);
                    skip = 0;
                }
            }
        }
    }
}

#[derive(Clone)]
pub struct RankTree {
    root: Node,
    len: usize,
}

impl Default for RankTree {
    fn default() -> Self {
        RankTree {
            root: Node::Leaf(Leaf::new()),
            len: 0,
        }
    }
}

impl RankTree {
    /// Inserts an element that is not in the tree yet.
    pub fn insert(&mut self, score: f64, member: &[u8]) {
        self.insert_owned(score, member.into());
    }

    /// Moves an element to a new score, reusing its bytes.
    pub fn rescore(&mut self, old: f64, new: f64, member: &[u8]) {
        if let Some(data) = self.take(old, member) {
            self.insert_owned(new, data);
        }
    }

    /// Removes an element; false when it is not there.
    pub fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        self.take(score, member).is_some()
    }

    fn insert_owned(&mut self, score: f64, member: Box<[u8]>) {
        self.len += 1;
        if let Some((key, right)) = self.root.insert(score, member) {
            let left = self.root.take_all();
            self.root = Node::Inner(Inner {
                key_scores: vec![key.0],
                key_members: vec![key.1],
                sizes: vec![left.size(), right.size()],
                children: vec![left, right],
            });
        }
    }

    fn take(&mut self, score: f64, member: &[u8]) -> Option<Box<[u8]>> {
        let taken = self.root.take(score, member)?;
        self.len -= 1;
        if let Node::Inner(inner) = &mut self.root {
            if inner.children.len() == 1 {
                self.root = inner.children[0].take_all();
            }
        }
        Some(taken)
    }

    /// How many leading elements satisfy `pred`, which must hold for a prefix of the order and
    /// fail for the rest (a partition point, as `slice::partition_point`).
    pub fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut node = &self.root;
        let mut rank = 0;
        loop {
            match node {
                Node::Leaf(leaf) => {
                    return rank
                        + partition(leaf.scores.len(), |i| {
                            pred(leaf.scores[i], &leaf.members[i])
                        });
                }
                Node::Inner(inner) => {
                    let at = partition(inner.key_scores.len(), |i| {
                        pred(inner.key_scores[i], &inner.key_members[i])
                    });
                    rank += inner.sizes[..at].iter().sum::<usize>();
                    node = &inner.children[at];
                }
            }
        }
    }

    /// Up to `count` elements from 0-based `from`, walking backwards from the end when `rev`
    /// (then `from` counts from the highest element).
    pub fn range(&self, from: usize, count: usize, rev: bool) -> Vec<(&[u8], f64)> {
        let count = count.min(self.len.saturating_sub(from));
        let mut out = Vec::with_capacity(count);
        if count > 0 {
            self.root.collect(from, count, rev, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn check(tree: &RankTree, expected: &[(f64, Vec<u8>)]) {
        let all = tree.range(0, usize::MAX, false);
        let got: Vec<(f64, Vec<u8>)> = all.iter().map(|(m, s)| (*s, m.to_vec())).collect();
        assert_eq!(got, expected);
        let mut rev = tree.range(0, usize::MAX, true);
        rev.reverse();
        assert_eq!(rev, all);
        for (rank, (score, member)) in expected.iter().enumerate() {
            assert_eq!(tree.count_while(|s, m| before(s, m, *score, member)), rank);
            assert_eq!(tree.range(rank, 1, false)[0].0, &member[..]);
            assert_eq!(
                tree.range(rank, 3, true).len(),
                3.min(expected.len() - rank)
            );
        }
        assert_sizes(&tree.root);
    }

    /// Every count an inner node keeps equals the elements under the child, and no node but
    /// the root is underfull.
    fn assert_sizes(node: &Node) -> usize {
        match node {
            Node::Leaf(leaf) => leaf.scores.len(),
            Node::Inner(inner) => {
                for (child, size) in inner.children.iter().zip(&inner.sizes) {
                    assert_eq!(assert_sizes(child), *size);
                    assert!(child.width() >= MIN && child.width() <= CAP);
                }
                inner.sizes.iter().sum()
            }
        }
    }

    #[test]
    fn ranks_stay_right_through_inserts_and_removes() {
        let mut tree = RankTree::default();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        let mut rng = rand::rng();
        for step in 0..40_000 {
            // Grow to a few thousand elements, then shrink back to nothing, so nodes split,
            // merge, even out and the root changes height both ways.
            let shrinking = step >= 20_000;
            let score = rng.random_range(0..50) as f64;
            let member = format!("m{}", rng.random_range(0..3000)).into_bytes();
            let at = model.iter().position(|(_, m)| *m == member);
            match at {
                Some(i) if shrinking || step % 3 != 0 => {
                    let (old, _) = model.remove(i);
                    if step % 2 == 0 {
                        assert!(tree.remove(old, &member));
                    } else {
                        tree.rescore(old, score, &member);
                        model.push((score, member));
                        model.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                    }
                }
                Some(_) => assert!(!tree.remove(score + 0.5, &member)),
                None if !shrinking => {
                    tree.insert(score, &member);
                    model.push((score, member));
                    model.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                }
                None => {}
            }
            assert_eq!(tree.len, model.len());
            if step % 2500 == 0 {
                check(&tree, &model);
            }
        }
        while let Some((score, member)) = model.pop() {
            assert!(tree.remove(score, &member));
        }
        check(&tree, &model);
        assert_eq!(tree.root.width(), 0);
    }
}
