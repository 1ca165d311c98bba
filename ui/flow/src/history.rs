//! Generic undo/redo over snapshots of the owner's state.
//!
//! The owner calls [`History::push`] with the state *before* each edit; [`History::undo`] and
//! [`History::redo`] take the *current* state and hand back the one to restore, so the two
//! stacks always hold exact snapshots and any sequence of undos and redos is lossless.

use std::collections::VecDeque;

/// Bounded undo/redo stacks of snapshots.
#[derive(Debug, Clone)]
pub struct History<T: Clone> {
    undo: VecDeque<T>,
    redo: Vec<T>,
    limit: usize,
}

impl<T: Clone> History<T> {
    /// Keeps at most `limit` undo steps (at least one); the oldest are dropped first.
    pub fn new(limit: usize) -> Self {
        Self {
            undo: VecDeque::new(),
            redo: Vec::new(),
            limit: limit.max(1),
        }
    }

    /// Records the state before an edit. Clears the redo stack: a new edit starts a new branch.
    pub fn push(&mut self, before: T) {
        self.redo.clear();
        self.undo.push_back(before);
        while self.undo.len() > self.limit {
            self.undo.pop_front();
        }
    }

    /// Same as [`History::push`].
    pub fn record(&mut self, state: T) {
        self.push(state);
    }

    /// Steps back: returns the state to restore and keeps `current` for redo.
    pub fn undo(&mut self, current: T) -> Option<T> {
        let prev = self.undo.pop_back()?;
        self.redo.push(current);
        Some(prev)
    }

    /// Steps forward again: returns the state to restore and keeps `current` for undo.
    pub fn redo(&mut self, current: T) -> Option<T> {
        let next = self.redo.pop()?;
        self.undo.push_back(current);
        Some(next)
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// How many undo steps are available.
    pub fn undo_len(&self) -> usize {
        self.undo.len()
    }

    /// How many redo steps are available.
    pub fn redo_len(&self) -> usize {
        self.redo.len()
    }

    pub fn clear(&mut self) {
        self.undo.clear();
        self.redo.clear();
    }
}

impl<T: Clone> Default for History<T> {
    fn default() -> Self {
        Self::new(100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random edit: the state is a vector the "edit" changes.
    fn edit(state: &[u64], step: u64) -> Vec<u64> {
        let mut s = state.to_vec();
        let r = step
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
            >> 33;
        match r % 3 {
            0 => s.push(r),
            1 if !s.is_empty() => {
                let i = (r as usize) % s.len();
                s.remove(i);
            }
            _ if !s.is_empty() => {
                let i = (r as usize) % s.len();
                s[i] ^= r;
            }
            _ => s.push(step),
        }
        s
    }

    #[test]
    fn hundreds_of_edits_undo_and_redo_exactly() {
        let mut history = History::new(1000);
        let mut states = vec![vec![1u64, 2, 3]];
        let mut current = states[0].clone();
        for step in 0..150 {
            let next = edit(&current, step);
            history.push(current.clone());
            current = next;
            states.push(current.clone());
        }
        assert_eq!(history.undo_len(), 150);
        // Undo all the way back, checking every intermediate state.
        for i in (0..150).rev() {
            current = history.undo(current).expect("undo available");
            assert_eq!(current, states[i], "undo to state {i}");
        }
        assert!(!history.can_undo());
        assert_eq!(history.undo(current.clone()), None);
        // Redo all of it.
        for (i, state) in states.iter().enumerate().skip(1) {
            current = history.redo(current).expect("redo available");
            assert_eq!(&current, state, "redo to state {i}");
        }
        assert!(!history.can_redo());
        assert_eq!(current, states[150]);
    }

    #[test]
    fn interleaved_undo_redo_and_branching() {
        let mut history = History::new(1000);
        let mut current = 0u32;
        let mut timeline = vec![0u32];
        for v in 1..=120 {
            history.push(current);
            current = v;
            timeline.push(v);
        }
        // Zig-zag: undo 3, redo 2, repeatedly, tracking the expected position.
        let mut pos = 120usize;
        for _ in 0..30 {
            for _ in 0..3 {
                current = history.undo(current).unwrap();
                pos -= 1;
                assert_eq!(current, timeline[pos]);
            }
            for _ in 0..2 {
                current = history.redo(current).unwrap();
                pos += 1;
                assert_eq!(current, timeline[pos]);
            }
        }
        assert_eq!(pos, 90);
        // A new edit drops the redo branch.
        assert!(history.can_redo());
        history.push(current);
        current = 999;
        assert!(!history.can_redo());
        current = history.undo(current).unwrap();
        assert_eq!(current, 90);
        assert_eq!(history.redo(current), Some(999));
    }

    #[test]
    fn limit_drops_the_oldest_steps() {
        let mut history = History::new(3);
        let mut current = 0;
        for v in 1..=5 {
            history.push(current);
            current = v;
        }
        assert_eq!(history.undo_len(), 3);
        assert_eq!(history.undo(5), Some(4));
        assert_eq!(history.undo(4), Some(3));
        assert_eq!(history.undo(3), Some(2));
        assert_eq!(history.undo(2), None);
        assert_eq!(history.redo_len(), 3);
        history.clear();
        assert!(!history.can_undo() && !history.can_redo());
        let zero: History<u8> = History::new(0);
        assert_eq!(zero.limit, 1);
    }
}
