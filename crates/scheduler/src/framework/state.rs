//! Data a plugin computes once per scheduling cycle (in PreFilter or PreScore) and reads for
//! every node. Preemption copies the state to try removing pods from one node.

use std::any::Any;
use std::collections::HashMap;

/// One plugin's cycle data.
pub trait StateData: Any + Send + Sync {
    fn clone_box(&self) -> Box<dyn StateData>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Clone + Send + Sync> StateData for T {
    fn clone_box(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[derive(Default)]
pub struct CycleState {
    data: HashMap<&'static str, Box<dyn StateData>>,
    /// Plugins whose PreFilter said Skip: their Filter is not run.
    pub skip_filter: Vec<&'static str>,
    /// The same as a bit per entry of the profile's filter list, read once per node.
    pub skipped_filters: u64,
    /// Plugins whose PreScore said Skip: their Score is not run.
    pub skip_score: Vec<&'static str>,
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        CycleState {
            data: self.data.iter().map(|(k, v)| (*k, (**v).clone_box())).collect(),
            skip_filter: self.skip_filter.clone(),
            skipped_filters: self.skipped_filters,
            skip_score: self.skip_score.clone(),
        }
    }
}

impl CycleState {
    pub fn write<T: StateData>(&mut self, key: &'static str, value: T) {
        self.data.insert(key, Box::new(value));
    }

    pub fn read<T: 'static>(&self, key: &'static str) -> Option<&T> {
        self.data.get(key).and_then(|d| (**d).as_any().downcast_ref())
    }

    pub fn read_mut<T: 'static>(&mut self, key: &'static str) -> Option<&mut T> {
        self.data.get_mut(key).and_then(|d| (**d).as_any_mut().downcast_mut())
    }
}
