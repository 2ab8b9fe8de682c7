//! The inbox counts cache: counts made at a generation stay good until an event that can
//! change them is published (`publish` bumps the generation).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Live, lock};
use crate::store::conversations::OpenCounts;

impl Live {
    /// The generation of the inbox counts now: read it before counting, then `cache_counts`.
    pub fn counts_generation(&self) -> u64 {
        self.hub.counts_generation.load(Ordering::SeqCst)
    }

    /// Keeps counts made at `generation` for pages and new dashboards.
    pub fn cache_counts(&self, generation: u64, counts: Arc<OpenCounts>) {
        let mut cached = lock(&self.hub.counts);
        if cached.as_ref().is_none_or(|(g, _)| *g <= generation) {
            *cached = Some((generation, counts));
        }
    }

    /// The cached inbox counts, if nothing that could change them happened since they were
    /// counted.
    pub fn cached_counts(&self) -> Option<Arc<OpenCounts>> {
        let now = self.counts_generation();
        lock(&self.hub.counts)
            .as_ref()
            .filter(|(g, _)| *g == now)
            .map(|(_, c)| c.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::Event;
    use crate::live::tests::{added, staff};

    #[test]
    fn cached_counts_last_until_the_next_change_is_published() {
        let live = Live::new();
        assert!(live.cached_counts().is_none());
        let g = live.counts_generation();
        live.cache_counts(g, Arc::new(OpenCounts::default()));
        assert!(live.cached_counts().is_some());
        live.publish(Event::StaffPresence {
            staff: staff(1),
            online: true,
        });
        assert!(live.cached_counts().is_some(), "presence changes no count");
        live.publish(added(1));
        assert!(live.cached_counts().is_none(), "stale after a new message");
        // counts made before the change must not pass for fresh ones
        live.cache_counts(g, Arc::new(OpenCounts::default()));
        assert!(live.cached_counts().is_none());
    }
}
