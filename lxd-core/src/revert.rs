//! A revert guard for multi-step work: each step registers how to undo itself, and unless the
//! work is declared a success, the undo steps run in reverse order when the guard is dropped.

/// Undo steps for a multi-step operation.
#[derive(Default)]
pub struct Revert {
    steps: Vec<Box<dyn FnOnce() + Send>>,
}

impl Revert {
    /// An empty guard.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers how to undo the step that just succeeded.
    pub fn add(&mut self, undo: impl FnOnce() + Send + 'static) {
        self.steps.push(Box::new(undo));
    }

    /// The work succeeded: nothing will be undone.
    pub fn success(mut self) {
        self.steps.clear();
    }

    /// Undoes now, in reverse order.
    pub fn fail(mut self) {
        self.run();
    }

    fn run(&mut self) {
        while let Some(step) = self.steps.pop() {
            step();
        }
    }
}

impl Drop for Revert {
    fn drop(&mut self) {
        self.run();
    }
}

#[cfg(test)]
mod tests {
    use super::Revert;
    use std::sync::{Arc, Mutex};

    #[test]
    fn undoes_in_reverse_unless_success() {
        let log = Arc::new(Mutex::new(Vec::new()));
        {
            let mut r = Revert::new();
            for i in 0..3 {
                let l = log.clone();
                r.add(move || l.lock().unwrap().push(i));
            }
        }
        assert_eq!(*log.lock().unwrap(), vec![2, 1, 0]);
        let l2 = log.clone();
        let mut r = Revert::new();
        r.add(move || l2.lock().unwrap().push(9));
        r.success();
        assert_eq!(log.lock().unwrap().len(), 3);
    }
}
