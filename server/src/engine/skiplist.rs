//! An indexable skiplist ordered by (score, member), as Redis's zskiplist: every link records
//! how many elements it jumps over, so ranks and lookups by rank take O(log n), and a range is
//! found in O(log n) then walked link by link.
//!
//! All links live in one arena, each node's in a contiguous block that starts with a header
//! (the node's own score and where its member is), and a link names the block it leads to and
//! carries that node's score. A search therefore touches one block per hop and reads a member
//! only when scores tie, as Redis's nodes with their levels inline do, in safe Rust.

use rand::Rng;

const MAX_LEVEL: usize = 32;
const NIL: u32 = u32::MAX;
/// The head's block: its header then `MAX_LEVEL` links.
const HEAD: u32 = 0;

#[derive(Clone, Copy)]
struct Link {
    /// The block of the node this link leads to (in a header: the node's member slot).
    next: u32,
    /// Elements between this node and `next`, `next` included (in a header: the level).
    span: u32,
    /// `next`'s score (in a header: the node's own).
    score: f64,
}

const END: Link = Link {
    next: NIL,
    span: 0,
    score: 0.0,
};

#[derive(Clone, Default)]
struct Member {
    data: Box<[u8]>,
    /// The previous node's block, NIL for the first.
    prev: u32,
}

/// Whether (score, member) sorts before (other_score, other_member).
pub fn before(score: f64, member: &[u8], other_score: f64, other_member: &[u8]) -> bool {
    score < other_score || (score == other_score && member < other_member)
}

#[derive(Clone)]
pub struct SkipList {
    links: Vec<Link>,
    members: Vec<Member>,
    /// Freed blocks by level, and freed member slots, for reuse.
    free_blocks: Vec<Vec<u32>>,
    free_members: Vec<u32>,
    level: usize,
    tail: u32,
    len: usize,
}

impl Default for SkipList {
    fn default() -> Self {
        let mut links = vec![END; MAX_LEVEL + 1];
        links[0].span = MAX_LEVEL as u32;
        SkipList {
            links,
            members: Vec::new(),
            free_blocks: vec![Vec::new(); MAX_LEVEL + 1],
            free_members: Vec::new(),
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
    fn link(&self, block: u32, level: usize) -> Link {
        self.links[block as usize + 1 + level]
    }

    fn link_mut(&mut self, block: u32, level: usize) -> &mut Link {
        &mut self.links[block as usize + 1 + level]
    }

    fn score_of(&self, block: u32) -> f64 {
        self.links[block as usize].score
    }

    fn member_slot(&self, block: u32) -> &Member {
        &self.members[self.links[block as usize].next as usize]
    }

    fn member_of(&self, block: u32) -> &[u8] {
        &self.member_slot(block).data
    }

    /// Whether the element `link` leads to sorts before (score, member); the member is read
    /// only on a tie.
    fn link_before(&self, link: Link, score: f64, member: &[u8]) -> bool {
        link.next != NIL
            && (link.score < score || (link.score == score && self.member_of(link.next) < member))
    }

    fn set_prev(&mut self, block: u32, prev: u32) {
        let slot = self.links[block as usize].next as usize;
        self.members[slot].prev = prev;
    }

    fn allocate(&mut self, score: f64, member: Box<[u8]>, level: usize) -> u32 {
        let slot = Member {
            data: member,
            prev: NIL,
        };
        let slot = match self.free_members.pop() {
            Some(index) => {
                self.members[index as usize] = slot;
                index
            }
            None => {
                self.members.push(slot);
                (self.members.len() - 1) as u32
            }
        };
        let header = Link {
            next: slot,
            span: level as u32,
            score,
        };
        match self.free_blocks[level].pop() {
            Some(block) => {
                let at = block as usize;
                self.links[at] = header;
                self.links[at + 1..at + 1 + level].fill(END);
                block
            }
            None => {
                let block = self.links.len() as u32;
                self.links.push(header);
                self.links.extend(std::iter::repeat_n(END, level));
                block
            }
        }
    }

    /// Frees a node's block and member slot, handing back the member's bytes.
    fn release(&mut self, block: u32) -> Box<[u8]> {
        let header = self.links[block as usize];
        let slot = std::mem::take(&mut self.members[header.next as usize]);
        self.free_members.push(header.next);
        self.free_blocks[header.span as usize].push(block);
        slot.data
    }

    /// Inserts an element that is not in the list yet.
    pub fn insert(&mut self, score: f64, member: &[u8]) {
        self.insert_owned(score, member.into());
    }

    /// Moves an element to a new score, reusing its bytes.
    pub fn rescore(&mut self, old: f64, new: f64, member: &[u8]) {
        if let Some(data) = self.take(old, member) {
            self.insert_owned(new, data);
        }
    }

    fn insert_owned(&mut self, score: f64, member: Box<[u8]>) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i + 1 == self.level { 0 } else { rank[i + 1] };
            loop {
                let link = self.link(x, i);
                if !self.link_before(link, score, &member) {
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
        let block = self.allocate(score, member, level);
        for i in 0..level {
            let before_link = self.link(update[i], i);
            let skipped = rank[0] - rank[i];
            *self.link_mut(block, i) = Link {
                span: before_link.span - skipped,
                ..before_link
            };
            *self.link_mut(update[i], i) = Link {
                next: block,
                span: skipped + 1,
                score,
            };
        }
        for (i, &node) in update.iter().enumerate().take(self.level).skip(level) {
            self.link_mut(node, i).span += 1;
        }
        self.set_prev(block, if update[0] == HEAD { NIL } else { update[0] });
        match self.link(block, 0).next {
            NIL => self.tail = block,
            next => self.set_prev(next, block),
        }
        self.len += 1;
    }

    /// Removes an element; false when it is not there.
    pub fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        self.take(score, member).is_some()
    }

    /// Removes an element and hands back its bytes.
    fn take(&mut self, score: f64, member: &[u8]) -> Option<Box<[u8]>> {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let link = self.link(x, i);
                if !self.link_before(link, score, member) {
                    break;
                }
                x = link.next;
            }
            update[i] = x;
        }
        let target = self.link(x, 0).next;
        if target == NIL || self.score_of(target) != score || self.member_of(target) != member {
            return None;
        }
        for (i, &node) in update.iter().enumerate().take(self.level) {
            let link = self.link(node, i);
            if link.next == target {
                let removed = self.link(target, i);
                *self.link_mut(node, i) = Link {
                    span: link.span + removed.span - 1,
                    ..removed
                };
            } else {
                self.link_mut(node, i).span -= 1;
            }
        }
        let prev = self.member_slot(target).prev;
        match self.link(target, 0).next {
            NIL => self.tail = prev,
            next => self.set_prev(next, prev),
        }
        while self.level > 1 && self.link(HEAD, self.level - 1).next == NIL {
            self.level -= 1;
        }
        self.len -= 1;
        Some(self.release(target))
    }

    /// How many leading elements satisfy `pred`, which must hold for a prefix of the order and
    /// fail for the rest (a partition point, as `slice::partition_point`).
    pub fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let link = self.link(x, i);
                if link.next == NIL || !pred(link.score, self.member_of(link.next)) {
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
            let slot = self.member_slot(x);
            out.push((&*slot.data, self.score_of(x)));
            x = if rev { slot.prev } else { self.link(x, 0).next };
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
