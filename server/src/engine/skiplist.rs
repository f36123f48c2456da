//! An indexable skiplist ordered by (score, member), as Redis's zskiplist: every link records
//! how many elements it jumps over, so ranks and lookups by rank take O(log n), and a range is
//! found in O(log n) then walked link by link. Nodes live in an arena addressed by `u32`
//! indices, which keeps the structure in safe Rust and its links at 8 bytes.

use rand::Rng;

const MAX_LEVEL: usize = 32;
const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

#[derive(Clone, Copy)]
struct Link {
    next: u32,
    /// Elements between this node and `next`, `next` included.
    span: u32,
}

#[derive(Clone)]
struct Node {
    member: Box<[u8]>,
    score: f64,
    prev: u32,
    links: Box<[Link]>,
}

/// Whether (score, member) sorts before (other_score, other_member).
pub fn before(score: f64, member: &[u8], other_score: f64, other_member: &[u8]) -> bool {
    score < other_score || (score == other_score && member < other_member)
}

#[derive(Clone)]
pub struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    level: usize,
    tail: u32,
    len: usize,
}

impl Default for SkipList {
    fn default() -> Self {
        let head = Node {
            member: Box::default(),
            score: 0.0,
            prev: NIL,
            links: vec![Link { next: NIL, span: 0 }; MAX_LEVEL].into_boxed_slice(),
        };
        SkipList {
            nodes: vec![head],
            free: Vec::new(),
            level: 1,
            tail: NIL,
            len: 0,
        }
    }
}

/// Levels with Redis's distribution: each further level with probability 1/4.
fn random_level() -> usize {
    let mut rng = rand::rng();
    let mut level = 1;
    while level < MAX_LEVEL && rng.random_range(0..4) == 0 {
        level += 1;
    }
    level
}

impl SkipList {
    fn link(&self, node: u32, level: usize) -> Link {
        self.nodes[node as usize].links[level]
    }

    fn link_mut(&mut self, node: u32, level: usize) -> &mut Link {
        &mut self.nodes[node as usize].links[level]
    }

    fn node(&self, index: u32) -> &Node {
        &self.nodes[index as usize]
    }

    /// Inserts an element that is not in the list yet.
    pub fn insert(&mut self, score: f64, member: &[u8]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i + 1 == self.level { 0 } else { rank[i + 1] };
            loop {
                let link = self.link(x, i);
                if link.next == NIL {
                    break;
                }
                let next = self.node(link.next);
                if !before(next.score, &next.member, score, member) {
                    break;
                }
                rank[i] += link.span;
                x = link.next;
            }
            update[i] = x;
        }
        let level = random_level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.link_mut(HEAD, i).span = self.len as u32;
            }
            self.level = level;
        }
        let node = Node {
            member: member.into(),
            score,
            prev: if update[0] == HEAD { NIL } else { update[0] },
            links: vec![Link { next: NIL, span: 0 }; level].into_boxed_slice(),
        };
        let index = match self.free.pop() {
            Some(index) => {
                self.nodes[index as usize] = node;
                index
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        for i in 0..level {
            let before_link = self.link(update[i], i);
            let skipped = rank[0] - rank[i];
            *self.link_mut(index, i) = Link {
                next: before_link.next,
                span: before_link.span - skipped,
            };
            *self.link_mut(update[i], i) = Link {
                next: index,
                span: skipped + 1,
            };
        }
        for (i, &node) in update.iter().enumerate().take(self.level).skip(level) {
            self.link_mut(node, i).span += 1;
        }
        match self.link(index, 0).next {
            NIL => self.tail = index,
            next => self.nodes[next as usize].prev = index,
        }
        self.len += 1;
    }

    /// Removes an element; false when it is not there.
    pub fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let next = self.link(x, i).next;
                if next == NIL {
                    break;
                }
                let node = self.node(next);
                if !before(node.score, &node.member, score, member) {
                    break;
                }
                x = next;
            }
            update[i] = x;
        }
        let target = self.link(x, 0).next;
        if target == NIL || {
            let node = self.node(target);
            node.score != score || &*node.member != member
        } {
            return false;
        }
        for (i, &node) in update.iter().enumerate().take(self.level) {
            let link = self.link(node, i);
            if link.next == target {
                let removed = self.link(target, i);
                *self.link_mut(node, i) = Link {
                    next: removed.next,
                    span: link.span + removed.span - 1,
                };
            } else {
                self.link_mut(node, i).span -= 1;
            }
        }
        let prev = self.node(target).prev;
        match self.link(target, 0).next {
            NIL => self.tail = prev,
            next => self.nodes[next as usize].prev = prev,
        }
        while self.level > 1 && self.link(HEAD, self.level - 1).next == NIL {
            self.level -= 1;
        }
        let freed = &mut self.nodes[target as usize];
        freed.member = Box::default();
        freed.links = Box::default();
        self.free.push(target);
        self.len -= 1;
        true
    }

    /// How many leading elements satisfy `pred`, which must hold for a prefix of the order and
    /// fail for the rest (a partition point, as `slice::partition_point`).
    pub fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let link = self.link(x, i);
                if link.next == NIL {
                    break;
                }
                let node = self.node(link.next);
                if !pred(node.score, &node.member) {
                    break;
                }
                rank += link.span as usize;
                x = link.next;
            }
        }
        rank
    }

    /// The node at 0-based `rank`.
    fn at_rank(&self, rank: usize) -> u32 {
        let target = rank + 1;
        let mut traversed = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let link = self.link(x, i);
                if link.next == NIL || traversed + link.span as usize > target {
                    break;
                }
                traversed += link.span as usize;
                x = link.next;
            }
            if traversed == target {
                return x;
            }
        }
        NIL
    }

    /// Up to `count` elements from 0-based `from`, walking backwards from the end when `rev`
    /// (then `from` counts from the highest element).
    pub fn range(&self, from: usize, count: usize, rev: bool) -> Vec<(&[u8], f64)> {
        if from >= self.len {
            return Vec::new();
        }
        let count = count.min(self.len - from);
        let mut out = Vec::with_capacity(count);
        let mut x = self.at_rank(if rev { self.len - 1 - from } else { from });
        while x != NIL && out.len() < count {
            let node = self.node(x);
            out.push((&*node.member, node.score));
            x = if rev { node.prev } else { node.links[0].next };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(list: &SkipList, expected: &[(f64, Vec<u8>)]) {
        let all = list.range(0, usize::MAX, false);
        let got: Vec<(f64, Vec<u8>)> = all.iter().map(|(m, s)| (*s, m.to_vec())).collect();
        assert_eq!(got, expected);
        let mut rev = list.range(0, usize::MAX, true);
        rev.reverse();
        assert_eq!(rev, all);
        for (rank, (score, member)) in expected.iter().enumerate() {
            assert_eq!(list.count_while(|s, m| before(s, m, *score, member)), rank);
            assert_eq!(list.range(rank, 1, false)[0].0, &member[..]);
        }
    }

    #[test]
    fn ranks_stay_right_through_inserts_and_removes() {
        let mut list = SkipList::default();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        let mut rng = rand::rng();
        for step in 0..3000 {
            let score = rng.random_range(0..50) as f64;
            let member = format!("m{}", rng.random_range(0..400)).into_bytes();
            let at = model.iter().position(|(_, m)| *m == member);
            match at {
                Some(i) if step % 3 != 0 => {
                    let (old, _) = model.remove(i);
                    assert!(list.remove(old, &member));
                }
                Some(_) => assert!(!list.remove(score + 0.5, &member)),
                None => {
                    list.insert(score, &member);
                    model.push((score, member));
                    model.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                }
            }
            assert_eq!(list.len, model.len());
            if step % 250 == 0 {
                check(&list, &model);
            }
        }
        check(&list, &model);
    }
}
